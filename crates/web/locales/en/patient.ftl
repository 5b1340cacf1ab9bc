# The patient space, in English. Every message here must exist in every other language
# (checked by a test). Keep sentences short and plain: many patients are not technical.

space-name = Patient space
skip-to-content = Skip to content
language-switch = Language
nav-label = Your patient space
nav-documents = Documents
nav-history = Who looked at my data
nav-account = My account
sign-out = Sign out
footer-never-ask = We never ask for your password or a code by phone or e-mail.

home-title = Your patient space
session-ended = You were signed out. For your safety this happens after 10 minutes without activity, or when you sign out everywhere. Sign in again below.
sign-in-title = Sign in
field-patient-id = Patient ID
field-test-id = Test ID or account ID
field-password = Password
sign-in-button = Continue
sign-in-forgot = Forgot your password? Ask at the desk for a new access slip; bring an identity document.
first-time-title = First time here?
first-time-text = Use the access slip you were given at the desk.
first-time-button = Open my space with my slip

activate-title = Open your patient space
activate-intro = Type the three codes printed on your access slip: your patient ID, the test or account ID, and the activation code.
field-activation-code = Activation code
activation-code-hint = 16 letters and digits, for example 7KQ2-M9XD-4TWA-PB3E. Dashes and spaces do not matter.
activate-button = Continue
activate-lost-slip = Lost your slip, or it stopped working? Ask at the desk for a new one.

setup-title = Choose how you will sign in
setup-change-title = Change how you sign in
setup-intro = Choose a password, then how you will confirm it is you each time you sign in.
field-new-password = New password
password-hint = At least 12 characters. A few unrelated words make a strong password that is easy to remember.
field-password-again = The same password again
setup-method-legend = How will you confirm it is you?
method-totp = With an authenticator app on my phone
method-sms = By a code in a text message
method-email = By a code in an e-mail
method-sms-to = By a code in a text message to { $to }
method-email-to = By a code in an e-mail to { $to }
setup-button = Continue

setup-confirm-title = Confirm your choice
totp-instructions = Open your authenticator app and add an account: scan this code, or type the key below.
totp-qr-alt = QR code to scan with your authenticator app
totp-key = Key:
code-title = Enter your code
code-sent-sms = We sent a 6-digit code by text message to { $to }. It works for 10 minutes.
code-sent-email = We sent a 6-digit code by e-mail to { $to }. It works for 10 minutes.
code-from-app = Open your authenticator app and type the 6-digit code it shows now.
field-code = Code
code-button = Confirm
code-resend = Send me a new code

welcome = Your patient space is ready. Next time, sign in with your patient ID, test ID, password and code.
documents-title = Your documents
documents-none = There is nothing here yet. We will tell you by e-mail or text message when something new is waiting.
released-on = available since { $when }
signature-verified = Signed by { $signer }; the signature is verified: the document is exactly as they signed it.
signature-not-verified = The signature of this document could not be verified. Contact us before relying on it.
back-to-documents = All documents
doc-kind = Type
doc-category = About
doc-released = Available since
doc-author = Written by
doc-signed = Signed by
doc-file = File
download = Download
download-hint = The file is saved on this device. On a shared computer, delete it when you are done.

kind-result = Result
kind-report = Report
kind-letter = Letter
kind-image = Image
kind-other = Document

category-identification = identity
category-administrative = administrative details
category-results = results
category-clinical_notes = clinical notes
category-imaging = imaging
category-mental_health = mental health
category-sexual_health = sexual health
category-genetics = genetics

history-title = Who looked at my data
history-intro = Every time someone in our organization looks at or records your data, it is written down. This is the list, newest first.
history-none = Nobody has looked at your data yet.
history-when = When
history-who = Who
history-what = What
history-why = Why
history-you = You, in your patient space
history-looked-at = Looked at
history-recorded = Recorded or changed
purpose-TREAT = Your care
purpose-ETREAT = Emergency access
purpose-HOPERAT = Registration and laboratory work
purpose-PATRQT = At your request
purpose-unknown = Not recorded

account-title = My account
account-method = How you sign in
method-now-totp = With your password and a code from your authenticator app.
method-now-sms = With your password and a code by text message to { $to }.
method-now-email = With your password and a code by e-mail to { $to }.
account-change-intro = To change your password or how you confirm it is you, first confirm it is you: type your password, then the code.
account-change-button = Change how I sign in
account-reauth-first = For your safety, confirm it is you before changing how you sign in.
reauth-title = Confirm it is you
account-contacts = Your contact details
account-no-contacts = We have no verified e-mail address or mobile number for you.
account-contacts-desk = To add or change an e-mail address or mobile number, ask at the desk.
account-sessions = Where you are signed in
session-since = Signed in since { $when }
session-this = this device
sign-out-everywhere = Sign out everywhere

error-title = Something went wrong
error-back = Back to your patient space
error-sign-in-failed = The patient ID, test ID or password is not right, or sign-in is paused after too many attempts. Try again in a few minutes.
error-slip-wrong = The patient ID, test ID or activation code is not right. Check your slip and try again. After 5 wrong codes the slip stops working.
error-slip-no-longer = This slip can no longer be used. Ask at the desk for a new one, and bring an identity document.
error-code-wrong = The code is not right. { $tries ->
    [one] You have 1 try left.
   *[other] You have { $tries } tries left.
}
error-code-no-longer = This code no longer works: it expired after 10 minutes, or was mistyped 5 times. Ask for a new code.
error-code-limit = Please wait 30 seconds before asking for another code. After 5 codes, start again from the beginning.
error-nothing-pending = This step has expired. Please start again.
error-contact-not-verified = Choose one of the addresses or numbers listed.
error-choose-factor = Choose how you will confirm it is you.
error-choose-contact = Choose where we should send your codes.
error-app-code-wrong = The code from your app is not right. Check the app and type the code it shows now.
error-app-code-used = This code was already used. Wait for the next one in your app.
error-space-closed = This patient space is closed.
error-password-too-short = The password must have at least 12 characters.
error-password-too-long = The password is too long.
error-password-mismatch = The two passwords are not the same.
error-password-common = This password is too common. Choose another.
error-password-context = The password must not contain the organization's name.
error-password-guessable = This password is too easy to guess. A few unrelated words make a strong one.
error-not-found = We could not find this page, or it is not available to you.
error-forbidden = You cannot do this here.
error-integrity = This document failed its integrity check, so we do not show it. We have been told and will contact you.
error-gone = This document is no longer kept.
error-unavailable = This is not available right now. Please try again later.
error-conflict = Something else happened at the same moment. Please try again.
error-invalid = Something in the form is not right. Please check it and try again.
error-internal = Something went wrong on our side. Please try again later.
error-paused = Too many wrong attempts: opening this space is paused for a moment. Please wait a few minutes and try again.

home-proxy-title = Helping someone with their space?
home-proxy-text = If you were given access to someone's patient space (as a parent, guardian or representative), open your own account with the invitation you received.
home-proxy-button = Open my account with my invitation
proxy-title = Open your account with your invitation
proxy-intro = Type the invitation reference and the code from the message you received.
field-invitation-reference = Invitation reference
field-invitation-code = Invitation code
account-proxies = People who can see your space
account-no-proxies = Nobody else can see your patient space.
proxy-scope = Can see: { $categories }. Until { $until }.
proxy-revoke = End this access
proxy-revoke-named = End { $name }'s access
proxy-ended = That person can no longer see your space.
relationship-parent = parent
relationship-guardian = guardian
relationship-spouse_or_partner = spouse or partner
relationship-child = child
relationship-other_family = family
relationship-legal_representative = legal representative
relationship-carer = carer
home-proxy-sign-in = If you have an account as someone's proxy, sign in with your invitation reference and password.
error-too-many-tries = Too many wrong codes for this sign-in. Please sign in again.
