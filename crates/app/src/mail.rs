//! Outgoing e-mail: enrolment invitations and security alerts.
//!
//! Messages go through a real SMTP relay (lettre) or, when none is configured, into an outbox
//! directory as `.eml` files (development, or an operator who collects them another way).
//! What a message may say is fixed by the functions in [`templates`]: none of them takes
//! patient data, so none can leak it.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::AppError;

/// Where mail goes, resolved from configuration.
#[derive(Debug, Clone)]
pub enum MailSettings {
    /// Each message becomes a file in this directory.
    Outbox(PathBuf),
    /// An SMTP relay, as a lettre URL: `smtp://host:25`, `smtp://host:587?tls=required`,
    /// `smtps://host:465`, with optional `user:password@`.
    Smtp(String),
}

/// One message to one person. Plain text only.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Sends mail. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Why a message could not be sent. Says nothing of its content.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the address is not a valid mailbox")]
    Address,
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the SMTP relay refused or failed: {0}")]
    Smtp(String),
    #[error("the outbox could not be written: {0}")]
    Outbox(String),
}

/// Whether `s` is a mailbox such as `Name <local@domain>` or `local@domain`.
pub fn is_mailbox(s: &str) -> bool {
    s.parse::<Mailbox>().is_ok()
}

impl Mailer {
    pub fn new(settings: &MailSettings, from: &str) -> Result<Mailer, AppError> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| AppError::Config(format!("mail.from '{from}' is not a valid mailbox")))?;
        let transport = match settings {
            MailSettings::Outbox(dir) => Transport::Outbox(dir.clone()),
            MailSettings::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| AppError::Config(format!("mail.smtp_url is not usable: {e}")))?
                    .timeout(Some(StdDuration::from_secs(15)))
                    .build(),
            ),
        };
        Ok(Mailer { from, transport })
    }

    /// Send one message now.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let to: Mailbox = mail.to.parse().map_err(|_| MailError::Address)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Smtp(e.to_string())),
            Transport::Outbox(dir) => write_to_outbox(dir, &message.formatted()).await,
        }
    }
}

async fn write_to_outbox(dir: &std::path::Path, bytes: &[u8]) -> Result<(), MailError> {
    let err = |e: std::io::Error| MailError::Outbox(e.to_string());
    tokio::fs::create_dir_all(dir).await.map_err(err)?;
    // Written under a temporary name, then renamed: whoever collects the outbox never sees
    // half a message.
    let name = sealroom_crypto::token::new_id();
    let partial = dir.join(format!(".{name}.partial"));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&partial).await.map_err(err)?;
    tokio::io::AsyncWriteExt::write_all(&mut file, bytes)
        .await
        .map_err(err)?;
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(err)?;
    drop(file);
    tokio::fs::rename(&partial, dir.join(format!("{name}.eml")))
        .await
        .map_err(err)
}

/// The only messages Sealroom sends. Each takes exactly what it may say.
pub mod templates {
    use super::OutgoingMail;

    /// A new colleague's invitation to enrol (the link is theirs alone and works once).
    pub fn enrolment_invitation(
        to: &str,
        organization: &str,
        link: &str,
        valid_hours: i64,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: set up your Sealroom account"),
            body: format!(
                "An account has been created for you in {organization}'s Sealroom.\n\n\
                 Open this link to choose your password and set up a second factor \
                 (it works once, for {valid_hours} hours):\n\n{link}\n\n\
                 If you did not expect this message, tell your IT or security team and do \
                 not open the link.\n"
            ),
        }
    }

    /// A manager's request to confirm a colleague's new assignment (a mover).
    pub fn assignment_to_confirm(
        to: &str,
        organization: &str,
        staff_name: &str,
        link: &str,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: an assignment waits for your confirmation"),
            body: format!(
                "{staff_name} has moved to a department you manage. Their access there starts \
                 only when you confirm the new assignment in Sealroom:\n\n{link}\n"
            ),
        }
    }

    /// A code that verifies a patient's e-mail address at the desk. Only the code and who
    /// sends it: nothing about the patient or why they are there.
    pub fn contact_verification_code(
        to: &str,
        organization: &str,
        code: &str,
        valid_minutes: i64,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: your verification code / votre code de vérification"),
            body: format!(
                "Your verification code is {code}. Give it to the person at the desk; it works \
                 for {valid_minutes} minutes.\n\n\
                 Votre code de vérification est {code}. Donnez-le à la personne à l'accueil ; \
                 il est valable {valid_minutes} minutes.\n"
            ),
        }
    }

    /// A patient space sign-in code.
    pub fn sign_in_code(
        to: &str,
        organization: &str,
        code: &str,
        valid_minutes: i64,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: your sign-in code / votre code de connexion"),
            body: format!(
                "Your code to sign in to your patient space is {code}. It works for \
                 {valid_minutes} minutes, once. Never give it to anyone, not even to staff. If \
                 you did not try to sign in, someone may know your password: sign in and change \
                 it, or ask at the desk.\n\n\
                 Votre code pour vous connecter à votre espace patient est {code}. Il est \
                 valable {valid_minutes} minutes, une seule fois. Ne le donnez à personne, pas \
                 même au personnel. Si vous n'avez pas essayé de vous connecter, quelqu'un \
                 connaît peut-être votre mot de passe : connectez-vous et changez-le, ou \
                 adressez-vous à l'accueil.\n"
            ),
        }
    }

    /// A proxy's invitation: where to go, the reference and the one-time code. Nothing about
    /// the patient.
    pub fn proxy_invitation(
        to: &str,
        organization: &str,
        reference: &str,
        code: &str,
        url: &str,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: your invitation / votre invitation"),
            body: format!(
                "You were given access to a patient space at {organization}. Open your account \
                 at\n\n{url}\n\nwith the invitation reference {reference} and the code {code}. \
                 The code works once. Never give it to anyone.\n\n\
                 Vous avez reçu accès à un espace patient chez {organization}. Ouvrez votre \
                 compte à l'adresse\n\n{url}\n\navec la référence d'invitation {reference} et le \
                 code {code}. Le code ne sert qu'une fois. Ne le donnez à personne.\n"
            ),
        }
    }

    /// A patient's invitation to their lasting space, to an address verified at the desk: the
    /// account ID, the one-time code and where to type them. Not the patient ID (an identifier
    /// of their record, shown to them once they are in), nothing about their health or care.
    pub fn patient_invitation(
        to: &str,
        organization: &str,
        account: &str,
        code: &str,
        url: &str,
        valid_days: i64,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: your patient space / votre espace patient"),
            body: format!(
                "{organization} opened a secure patient space for you. To start, go to\n\n\
                 {url}/activate\n\nand type the account ID {account} and the activation code \
                 {code} (leave the patient ID empty). The code works once, for {valid_days} \
                 days. Never give it to anyone, not even to staff. Then choose a password and \
                 how to confirm it is you. Your patient ID is then shown under My account: \
                 keep it with the account ID, you type both to sign in. If you did not expect \
                 this, ignore it.\n\n\
                 {organization} a ouvert pour vous un espace patient sécurisé. Pour commencer, \
                 allez à l'adresse\n\n{url}/activate\n\net tapez l'ID de compte {account} et \
                 le code d'activation {code} (laissez l'ID patient vide). Le code ne sert \
                 qu'une fois, pendant {valid_days} jours. Ne le donnez à personne, pas même au \
                 personnel. Choisissez ensuite un mot de passe et la façon de confirmer que \
                 c'est vous. Votre identifiant patient s'affiche ensuite sous Mon compte : \
                 gardez-le avec l'ID de compte, vous tapez les deux pour vous connecter. Si vous \
                 ne vous y attendiez pas, ignorez ce message.\n"
            ),
        }
    }

    /// The patient is told someone was given access to their space (never who).
    pub fn proxy_added(to: &str, organization: &str, patient_space: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!(
                "{organization}: access to your patient space / accès à votre espace patient"
            ),
            body: format!(
                "Someone was given access to your secure patient space. Sign in to see who, and \
                 to end it if it is not right:\n\n{patient_space}\n\n\
                 Quelqu'un a reçu accès à votre espace patient sécurisé. Connectez-vous pour voir \
                 qui, et y mettre fin si ce n'est pas normal :\n\n{patient_space}\n"
            ),
        }
    }

    /// How the patient signs in changed (a new slip, a new password or second factor): if it
    /// was not them, they call. Nothing about the patient or their data.
    pub fn sign_in_changed(to: &str, organization: &str, patient_space: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!(
                "{organization}: your patient space sign-in changed / connexion modifiée"
            ),
            body: format!(
                "How you sign in to your patient space changed: a new access slip was printed, \
                 or your password or confirmation method was changed. If it was you, there is \
                 nothing to do. If not, contact {organization} at once.\n\n{patient_space}\n\n\
                 La façon de vous connecter à votre espace patient a changé : un nouveau bon \
                 d'accès a été imprimé, ou votre mot de passe ou votre méthode de confirmation \
                 a été modifié. Si c'était vous, rien à faire. Sinon, contactez {organization} \
                 immédiatement.\n"
            ),
        }
    }

    /// Something new is waiting in the patient space. Deliberately nothing else: no test,
    /// result, department, diagnosis or name; the patient signs in to see it.
    pub fn patient_new_document(to: &str, organization: &str, patient_space: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: something new is waiting / du nouveau vous attend"),
            body: format!(
                "Something new is waiting for you in your secure patient space. Sign in to see \
                 it:\n\n{patient_space}\n\n\
                 Du nouveau vous attend dans votre espace patient sécurisé. Connectez-vous pour \
                 le voir :\n\n{patient_space}\n\n\
                 {organization} never asks for a password or code by e-mail. / {organization} ne \
                 demande jamais de mot de passe ni de code par e-mail.\n"
            ),
        }
    }

    /// Secure messages wait for a colleague who was not signed in: how many and where, never
    /// who sent them, about whom or what they say.
    pub fn messages_waiting(
        to: &str,
        organization: &str,
        waiting: i64,
        inbox: &str,
    ) -> OutgoingMail {
        let what = if waiting == 1 {
            "A secure message is".to_owned()
        } else {
            format!("{waiting} secure messages are")
        };
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: secure messages are waiting"),
            body: format!(
                "{what} waiting for you in Sealroom. Sign in to read them:\n\n{inbox}\n\n\
                 Sealroom never sends message content by e-mail.\n"
            ),
        }
    }

    /// Someone outside the organization was sent a secure message: that it waits and where,
    /// never who sent it, about whom or what it says.
    pub fn outside_message_waiting(to: &str, organization: &str, link: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: a secure message is waiting for you"),
            body: format!(
                "{organization} has sent you a secure message. Open it here:\n\n{link}\n\n\
                 To open it you will be asked to prove who you are, in the way the sender chose \
                 (a code by SMS, an access code they gave you, or a code by e-mail).\n\n\
                 {organization} never sends message content by e-mail and never asks for a \
                 password by e-mail.\n"
            ),
        }
    }

    /// The code that opens a secure message for someone outside.
    pub fn outside_code(
        to: &str,
        organization: &str,
        code: &str,
        valid_minutes: i64,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: your code to open a secure message"),
            body: format!(
                "Your code to open the secure message is {code}. It works for {valid_minutes} \
                 minutes. Never give it to anyone.\n"
            ),
        }
    }

    /// A patient's care team wrote: where to read it, nothing about what it says.
    pub fn patient_new_message(to: &str, organization: &str, messages: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: a message from your care team / un message de votre équipe soignante"),
            body: format!(
                "Your care team has sent you a secure message. Sign in to your patient space to \
                 read it:\n\n{messages}\n\n\
                 Votre équipe soignante vous a envoyé un message sécurisé. Connectez-vous à votre \
                 espace patient pour le lire :\n\n{messages}\n\n\
                 {organization} never asks for a password or code by e-mail. / {organization} ne \
                 demande jamais de mot de passe ni de code par e-mail.\n"
            ),
        }
    }

    /// The security officer's alert that someone opened emergency access. It names who and
    /// when, never the patient or the written reason (which may contain clinical detail).
    pub fn break_glass_alert(
        to: &str,
        organization: &str,
        staff_name: &str,
        at_utc: &str,
        review_link: &str,
    ) -> OutgoingMail {
        OutgoingMail {
            to: to.to_owned(),
            subject: format!("{organization}: emergency access opened"),
            body: format!(
                "{staff_name} opened emergency (break-glass) access to a patient record at \
                 {at_utc} UTC.\n\nReview it in Sealroom, where the reason and the patient \
                 are shown to you:\n\n{review_link}\n"
            ),
        }
    }
}
