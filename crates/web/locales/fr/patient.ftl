# L'espace patient, en français. Chaque message doit exister dans toutes les langues
# (vérifié par un test). Des phrases courtes et simples : beaucoup de patients ne sont pas
# à l'aise avec l'informatique.

space-name = Espace patient
skip-to-content = Aller au contenu
language-switch = Langue
nav-label = Votre espace patient
nav-documents = Documents
nav-history = Qui a consulté mes données
nav-account = Mon compte
sign-out = Se déconnecter
footer-never-ask = Nous ne vous demandons jamais votre mot de passe ni un code par téléphone ou par e-mail.

home-title = Votre espace patient
session-ended = Vous avez été déconnecté. Pour votre sécurité, cela arrive après 10 minutes sans activité, ou quand vous vous déconnectez partout. Reconnectez-vous ci-dessous.
sign-in-title = Se connecter
sign-in-passkey-title = Se connecter avec une clé d'accès seule
sign-in-passkey-text = Si vous avez choisi une clé d'accès sans mot de passe, tapez votre identifiant patient et l'identifiant d'analyse ou de compte ; votre appareil demande ensuite votre empreinte, votre visage ou le verrouillage de l'écran.
sign-in-passkey-button = Continuer avec ma clé d'accès
field-patient-id = Identifiant patient
field-test-id = Identifiant d'analyse ou de compte
field-password = Mot de passe
sign-in-button = Continuer
sign-in-forgot = Mot de passe oublié ? Pour un espace ouvert pour une seule analyse, demandez un nouveau bon à l'accueil (avec une pièce d'identité).
first-time-title = Première visite ?
first-time-text = Utilisez le bon d'accès qui vous a été remis à l'accueil.
first-time-button = Ouvrir mon espace avec mon bon

activate-title = Ouvrir votre espace patient
activate-intro = Tapez les codes de votre bon d'accès imprimé, ou de l'invitation envoyée à votre adresse e-mail ou à votre téléphone mobile : votre identifiant patient (bons imprimés seulement), l'identifiant d'analyse ou de compte, et le code d'activation.
activate-patient-id-hint = Sur votre bon imprimé. Si vous avez reçu une invitation par e-mail ou SMS, laissez ce champ vide.
field-activation-code = Code d'activation
activation-code-hint = 16 lettres et chiffres, par exemple 7KQ2-M9XD-4TWA-PB3E. Les tirets et les espaces n'ont pas d'importance.
activate-button = Continuer
activate-lost-slip = Bon perdu, ou il ne fonctionne plus ? Demandez-en un nouveau à l'accueil.

setup-title = Choisissez comment vous connecter
setup-change-title = Changer votre façon de vous connecter
setup-intro = Choisissez un mot de passe, puis comment vous confirmerez votre identité à chaque connexion.
field-new-password = Nouveau mot de passe
password-hint = Au moins 12 caractères. Quelques mots sans rapport entre eux font un mot de passe solide et facile à retenir.
password-hint-passkey-only = Inutile si vous choisissez une clé d'accès seule.
field-password-again = Le même mot de passe, encore une fois
setup-method-legend = Comment confirmerez-vous votre identité ?
method-totp = Avec une application d'authentification sur mon téléphone
method-sms = Par un code reçu par SMS
method-email = Par un code reçu par e-mail
method-sms-to = Par un code reçu par SMS au { $to }
method-email-to = Par un code reçu par e-mail à { $to }
setup-button = Continuer

setup-confirm-title = Confirmez votre choix
totp-instructions = Ouvrez votre application d'authentification et ajoutez un compte : scannez ce code, ou tapez la clé ci-dessous.
totp-qr-alt = Code QR à scanner avec votre application d'authentification
totp-key = Clé :
code-title = Saisissez votre code
code-sent-sms = Nous avons envoyé un code à 6 chiffres par SMS au { $to }. Il est valable 10 minutes.
code-sent-email = Nous avons envoyé un code à 6 chiffres par e-mail à { $to }. Il est valable 10 minutes.
code-from-app = Ouvrez votre application d'authentification et tapez le code à 6 chiffres qu'elle affiche maintenant.
field-code = Code
code-button = Confirmer
code-resend = Envoyez-moi un nouveau code

welcome = Votre espace patient est prêt. La prochaine fois, connectez-vous avec votre identifiant patient, votre identifiant d'analyse, votre mot de passe et un code.
documents-title = Vos documents
documents-none = Il n'y a encore rien ici. Nous vous préviendrons par e-mail ou par SMS quand du nouveau vous attendra.
released-on = disponible depuis le { $when }
signature-verified = Signé par { $signer } ; la signature est vérifiée : le document est exactement tel qu'il a été signé.
signature-not-verified = La signature de ce document n'a pas pu être vérifiée. Contactez-nous avant de vous y fier.
back-to-documents = Tous les documents
doc-kind = Type
doc-category = Sujet
doc-released = Disponible depuis le
doc-author = Rédigé par
doc-signed = Signé par
doc-file = Fichier
download = Télécharger
download-hint = Le fichier est enregistré sur cet appareil. Sur un ordinateur partagé, supprimez-le quand vous avez terminé.

kind-result = Résultat
kind-report = Compte rendu
kind-letter = Courrier
kind-image = Image
kind-other = Document

category-identification = identité
category-administrative = données administratives
category-results = résultats
category-clinical_notes = notes cliniques
category-imaging = imagerie
category-mental_health = santé mentale
category-sexual_health = santé sexuelle
category-genetics = génétique

history-title = Qui a consulté mes données
history-intro = Chaque fois qu'une personne de notre organisation consulte ou enregistre vos données, c'est noté. Voici la liste, des plus récents aux plus anciens.
history-none = Personne n'a encore consulté vos données.
history-when = Quand
history-who = Qui
history-what = Quoi
history-why = Pourquoi
history-you = Vous, dans votre espace patient
history-looked-at = A consulté
history-recorded = A enregistré ou modifié
purpose-TREAT = Vos soins
purpose-ETREAT = Accès d'urgence
purpose-HOPERAT = Inscription et travail du laboratoire
purpose-PATRQT = À votre demande
purpose-unknown = Non précisé

account-title = Mon compte
account-identifiers = Comment vous connecter
account-identifiers-hint = Gardez ces deux identifiants : vous les tapez avec votre mot de passe à chaque connexion.
account-method = Comment vous vous connectez
method-now-totp = Avec votre mot de passe et un code de votre application d'authentification.
method-now-sms = Avec votre mot de passe et un code reçu par SMS au { $to }.
method-now-email = Avec votre mot de passe et un code reçu par e-mail à { $to }.
account-change-intro = Pour changer votre mot de passe ou votre façon de confirmer votre identité, confirmez d'abord que c'est bien vous : tapez votre mot de passe, puis le code.
account-change-intro-passkey = Pour changer votre façon de vous connecter, confirmez d'abord que c'est bien vous avec votre clé d'accès.
account-change-button = Changer ma façon de me connecter
account-reauth-first = Pour votre sécurité, confirmez que c'est bien vous avant de changer votre façon de vous connecter.
reauth-title = Confirmez que c'est bien vous
account-contacts = Vos coordonnées
account-no-contacts = Nous n'avons aucune adresse e-mail ni aucun numéro de mobile vérifié pour vous.
account-contacts-desk = Pour ajouter ou changer une adresse e-mail ou un numéro de mobile, adressez-vous à l'accueil.
account-sessions = Où vous êtes connecté
session-since = Connecté depuis le { $when }
session-this = cet appareil
sign-out-everywhere = Se déconnecter partout

error-title = Un problème est survenu
error-back = Retour à votre espace patient
error-sign-in-failed = L'identifiant patient, l'identifiant d'analyse ou le mot de passe n'est pas correct, ou la connexion est suspendue après trop d'essais. Réessayez dans quelques minutes.
error-slip-wrong = L'identifiant patient, l'identifiant d'analyse ou le code d'activation n'est pas correct. Vérifiez votre bon et réessayez. Après 5 codes erronés, le bon ne fonctionne plus.
error-slip-no-longer = Ce bon ne peut plus être utilisé. Demandez-en un nouveau à l'accueil, avec une pièce d'identité.
error-code-wrong = Le code n'est pas correct. { $tries ->
    [one] Il vous reste 1 essai.
   *[other] Il vous reste { $tries } essais.
}
error-code-no-longer = Ce code ne fonctionne plus : il a expiré après 10 minutes, ou a été mal saisi 5 fois. Demandez un nouveau code.
error-code-limit = Attendez 30 secondes avant de demander un autre code. Après 5 codes, recommencez depuis le début.
error-nothing-pending = Cette étape a expiré. Veuillez recommencer.
error-contact-not-verified = Choisissez une des adresses ou un des numéros proposés.
error-choose-factor = Choisissez comment vous confirmerez votre identité.
error-choose-contact = Choisissez où nous devons envoyer vos codes.
error-app-code-wrong = Le code de votre application n'est pas correct. Vérifiez l'application et tapez le code qu'elle affiche maintenant.
error-app-code-used = Ce code a déjà servi. Attendez le suivant dans votre application.
error-space-closed = Cet espace patient est fermé.
error-password-too-short = Le mot de passe doit contenir au moins 12 caractères.
error-password-too-long = Le mot de passe est trop long.
error-password-mismatch = Les deux mots de passe ne sont pas identiques.
error-password-common = Ce mot de passe est trop courant. Choisissez-en un autre.
error-password-context = Le mot de passe ne doit pas contenir le nom de l'organisation.
error-password-guessable = Ce mot de passe est trop facile à deviner. Quelques mots sans rapport entre eux en font un solide.
error-not-found = Nous n'avons pas trouvé cette page, ou elle ne vous est pas accessible.
error-forbidden = Vous ne pouvez pas faire cela ici.
error-integrity = Ce document n'a pas passé son contrôle d'intégrité, nous ne l'affichons donc pas. Nous avons été prévenus et vous contacterons.
error-gone = Ce document n'est plus conservé.
error-unavailable = Ce n'est pas disponible pour le moment. Veuillez réessayer plus tard.
error-conflict = Autre chose s'est produit au même moment. Veuillez réessayer.
error-invalid = Quelque chose n'est pas correct dans le formulaire. Vérifiez-le et réessayez.
error-internal = Un problème est survenu de notre côté. Veuillez réessayer plus tard.
error-too-large = Ce fichier est trop volumineux pour être envoyé ici. Demandez à votre équipe soignante comment le lui faire parvenir.
error-paused = Trop d'essais erronés : l'ouverture de cet espace est suspendue un moment. Attendez quelques minutes et réessayez.

home-proxy-title = Vous aidez quelqu'un avec son espace ?
home-proxy-text = Si vous avez reçu accès à l'espace patient d'une autre personne (comme parent, tuteur ou représentant), ouvrez votre propre compte avec l'invitation reçue.
home-proxy-button = Ouvrir mon compte avec mon invitation
proxy-title = Ouvrir votre compte avec votre invitation
proxy-intro = Tapez la référence d'invitation et le code du message que vous avez reçu.
field-invitation-reference = Référence d'invitation
field-invitation-code = Code d'invitation
account-proxies = Personnes qui peuvent voir votre espace
account-no-proxies = Personne d'autre ne peut voir votre espace patient.
proxy-scope = Peut voir : { $categories }. Jusqu'au { $until }.
proxy-revoke = Mettre fin à cet accès
proxy-revoke-named = Mettre fin à l'accès de { $name }
proxy-ended = Cette personne ne peut plus voir votre espace.
relationship-parent = parent (père ou mère)
relationship-guardian = tuteur
relationship-spouse_or_partner = conjoint ou partenaire
relationship-child = enfant
relationship-other_family = famille
relationship-legal_representative = représentant légal
relationship-carer = aidant
home-proxy-sign-in = Si vous avez un compte de mandataire pour une autre personne, connectez-vous avec votre référence d'invitation et votre mot de passe.
error-too-many-tries = Trop de codes erronés pour cette connexion. Veuillez vous reconnecter.
recover-link = Mot de passe oublié ?
recover-title = Choisir un nouveau mot de passe
recover-intro = Si vous avez un espace patient permanent (avec un identifiant de compte), vous pouvez choisir ici un nouveau mot de passe : confirmez votre identité avec votre code habituel, puis avec un code envoyé à votre autre adresse ou numéro. Pour un espace ouvert pour une seule analyse, demandez un nouveau bon à l'accueil.
field-account-id = Identifiant de compte
recover-password-title = Votre nouveau mot de passe
recover-password-button = Enregistrer mon nouveau mot de passe
error-recovery-at-desk = Nous ne pouvons pas vous laisser choisir un nouveau mot de passe en ligne : il faut une deuxième adresse e-mail ou un deuxième numéro de mobile vérifié à l'accueil. Demandez un nouveau bon à l'accueil, avec une pièce d'identité.
error-recovery-passkey-at-desk = Un espace auquel vous vous connectez avec une clé d'accès ne se récupère pas en ligne : si vous avez perdu l'appareil qui porte votre clé, demandez un nouveau bon à l'accueil, avec une pièce d'identité.
method-passkey = Avec une clé d'accès sur cet appareil (empreinte, visage ou verrouillage de l'écran)
method-passkey-only = Avec une clé d'accès seule, sans mot de passe (votre empreinte, votre visage ou le verrouillage de l'écran la déverrouille)
method-now-passkey = Avec votre mot de passe et votre clé d'accès.
method-now-passkey-only = Avec votre clé d'accès seule (sans mot de passe).
code-from-passkey = Confirmez votre identité avec votre clé d'accès : votre appareil vous demandera votre empreinte, votre visage ou le verrouillage de l'écran.
passkey-use = Utiliser ma clé d'accès
passkey-create = Créer ma clé d'accès
passkey-create-instructions = Votre appareil va maintenant créer une clé d'accès pour cet espace patient et vous demander votre empreinte, votre visage ou le verrouillage de l'écran. La prochaine fois, vous l'utiliserez après votre mot de passe.
error-use-passkey = Cette étape se confirme avec votre clé d'accès : utilisez le bouton ci-dessous.
error-passkey-failed = La clé d'accès n'a pas pu être vérifiée. Réessayez, ou reconnectez-vous.

nav-messages = Messages
messages-title = Messages avec votre équipe soignante
messages-none = Aucun message pour l'instant. Quand votre équipe soignante vous écrit, le message apparaît ici.
messages-unread = { $count } non lu(s)
back-to-messages = Tous les messages
message-sent = Envoyé. Votre équipe soignante le verra dans Sealroom.
message-gone = Ce message a été retiré par son auteur ou a expiré.
message-reply = Votre réponse
message-send = Envoyer de façon sécurisée
message-attach = Ajouter des fichiers (facultatif)
message-attach-hint = Photos ou documents pour votre équipe soignante. Ils sont chiffrés pendant l'envoi.
message-files-kept = { $count ->
    [one] Un fichier est déjà joint.
   *[other] { $count } fichiers sont déjà joints.
}
message-signature-verified = Signé par son auteur ; la signature est vérifiée.
message-arrived-typing = Un nouveau message est arrivé ; il s'affichera quand vous enverrez ou rechargerez la page.
