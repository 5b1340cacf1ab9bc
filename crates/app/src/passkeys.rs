//! Passkey (WebAuthn) ceremonies: registration, sign-in with a passkey alone, passkey as a
//! second factor, and passkey step-up. User verification is required in every ceremony
//! (webauthn-rs enforces it), and the signature counter is checked by webauthn-rs against the
//! stored credential, which is saved again after every use.
//!
//! A ceremony's state is sealed with the master key and kept in the session row (or, before a
//! session exists, in a short-lived cookie), and is taken exactly once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sealroom_crypto::token;
use sealroom_domain::{AuditAction, SessionState, SignInMethod};
use sealroom_store::{LinkPurpose, LinkRow, PasskeyRow, UserRow, UserStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};
use webauthn_rs::prelude::*;

use crate::sessions::{CurrentSession, IssuedSession};
use crate::{App, AppError, Client, Settings};

/// How long a started ceremony may be answered.
const CEREMONY_SECONDS: i64 = 300;

pub struct PasskeyCeremonies {
    webauthn: Webauthn,
    fake: WebauthnFakeCredentialGenerator<FakePasskeyDistribution>,
}

impl PasskeyCeremonies {
    pub(crate) fn new(settings: &Settings, master_key: &[u8]) -> Result<Self, AppError> {
        let url = &settings.public_url;
        let rp_id = url
            .host_str()
            .ok_or_else(|| AppError::Config("public_url has no host".into()))?;
        let webauthn = WebauthnBuilder::new(rp_id, url)
            .and_then(|b| b.rp_name(&settings.organization_name).build())
            .map_err(|e| AppError::Config(format!(
                "passkeys cannot work with public_url {url}: {e} (it must use a host name, such as localhost, not an IP address)"
            )))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(master_key).map_err(AppError::internal)?;
        mac.update(b"sealroom webauthn fake credential ids");
        let fake = WebauthnFakeCredentialGenerator::new(&mac.finalize().into_bytes())
            .map_err(|e| AppError::Config(e.to_string()))?;
        Ok(PasskeyCeremonies { webauthn, fake })
    }
}

impl PasskeyCeremonies {
    pub(crate) fn webauthn(&self) -> &Webauthn {
        &self.webauthn
    }
}

#[derive(Serialize, Deserialize)]
enum Ceremony {
    Register {
        name: String,
        state: PasskeyRegistration,
    },
    SecondFactor {
        state: PasskeyAuthentication,
    },
    StepUp {
        state: PasskeyAuthentication,
    },
}

#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    expires: i64,
    body: T,
}

#[derive(Serialize, Deserialize)]
struct SignInCeremony {
    /// Spent on the server when answered, so a captured cookie and answer cannot be replayed.
    nonce: String,
    user_id: Option<String>,
    state: Option<PasskeyAuthentication>,
}

/// A passkey shown on "my security".
#[derive(Debug, Clone, Serialize)]
pub struct PasskeySummary {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub(crate) fn user_uuid(user_id: &str) -> Result<Uuid, AppError> {
    let bytes: Vec<u8> = (0..user_id.len())
        .step_by(2)
        .filter_map(|i| {
            user_id
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    Uuid::from_slice(&bytes).map_err(AppError::internal)
}

fn parse_passkeys(rows: &[PasskeyRow]) -> Result<Vec<Passkey>, AppError> {
    rows.iter()
        .map(|r| serde_json::from_str(&r.passkey_json).map_err(AppError::internal))
        .collect()
}

impl App {
    fn seal_ceremony<T: Serialize>(&self, owner: &str, body: T) -> Result<Vec<u8>, AppError> {
        let sealed = Sealed {
            expires: self.now().as_seconds() + CEREMONY_SECONDS,
            body,
        };
        let bytes = serde_json::to_vec(&sealed).map_err(AppError::internal)?;
        Ok(self.secrets().seal(&bytes, owner))
    }

    fn open_ceremony<T: for<'de> Deserialize<'de>>(
        &self,
        owner: &str,
        sealed: &[u8],
    ) -> Result<T, AppError> {
        let bytes = self.secrets().open(sealed, owner).map_err(|_| {
            AppError::InvalidInput("the passkey request is not valid; start again".into())
        })?;
        let s: Sealed<T> = serde_json::from_slice(&bytes).map_err(AppError::internal)?;
        if s.expires < self.now().as_seconds() {
            return Err(AppError::InvalidInput(
                "the passkey request has expired; start again".into(),
            ));
        }
        Ok(s.body)
    }

    async fn take_ceremony(&self, me: &CurrentSession) -> Result<Ceremony, AppError> {
        let sealed = self
            .store()
            .take_session_ceremony(&me.id)
            .await?
            .ok_or_else(|| {
                AppError::InvalidInput("no passkey request is pending; start again".into())
            })?;
        self.open_ceremony(&format!("ceremony:{}", me.id), &sealed)
    }

    async fn put_ceremony(&self, me: &CurrentSession, c: Ceremony) -> Result<(), AppError> {
        let sealed = self.seal_ceremony(&format!("ceremony:{}", me.id), c)?;
        self.store()
            .set_session_ceremony(&me.id, Some(&sealed))
            .await?;
        Ok(())
    }

    /// Begin registering a passkey named `name`: during enrolment, or later after a step-up.
    pub async fn start_passkey_registration(
        &self,
        me: &CurrentSession,
        name: &str,
    ) -> Result<CreationChallengeResponse, AppError> {
        self.require_factor_change_allowed(me)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(AppError::InvalidInput(
                "give the passkey a name of 1 to 60 characters, such as \"Work laptop\"".into(),
            ));
        }
        let existing = parse_passkeys(&self.store().passkeys_for(&me.user.id).await?)?;
        let exclude: Vec<CredentialID> = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (challenge, state) = self
            .ceremonies()
            .webauthn
            .start_passkey_registration(
                user_uuid(&me.user.id)?,
                &me.user.email,
                &me.user.display_name,
                Some(exclude),
            )
            .map_err(AppError::internal)?;
        self.put_ceremony(
            me,
            Ceremony::Register {
                name: name.to_owned(),
                state,
            },
        )
        .await?;
        Ok(challenge)
    }

    /// Finish registering: verify the authenticator's answer and store the passkey.
    pub async fn finish_passkey_registration(
        &self,
        me: &CurrentSession,
        answer: &RegisterPublicKeyCredential,
        client: &Client,
    ) -> Result<(), AppError> {
        self.require_factor_change_allowed(me)?;
        let Ceremony::Register { name, state } = self.take_ceremony(me).await? else {
            return Err(AppError::InvalidInput(
                "no passkey registration is pending; start again".into(),
            ));
        };
        let passkey = self
            .ceremonies()
            .webauthn
            .finish_passkey_registration(answer, &state)
            .map_err(|e| {
                AppError::InvalidInput(format!("the passkey could not be registered: {e}"))
            })?;
        let now = self.now().as_seconds();
        let row = PasskeyRow {
            id: token::new_id(),
            user_id: me.user.id.clone(),
            name,
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            passkey_json: serde_json::to_string(&passkey).map_err(AppError::internal)?,
            created_at: now,
            last_used_at: None,
        };
        self.store()
            .insert_passkey(&row)
            .await
            .map_err(|e| match e {
                sealroom_store::StoreError::Conflict(_) => {
                    AppError::Conflict("this passkey is already registered".into())
                }
                other => other.into(),
            })?;
        self.audit(
            &me.actor(),
            AuditAction::FactorAdded,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({"factor": "passkey", "passkey": row.id}),
        )
        .await
    }

    async fn start_assertion(
        &self,
        me: &CurrentSession,
        step_up: bool,
    ) -> Result<RequestChallengeResponse, AppError> {
        let passkeys = parse_passkeys(&self.store().passkeys_for(&me.user.id).await?)?;
        if passkeys.is_empty() {
            return Err(AppError::InvalidInput(
                "you have no passkey; use your authenticator app code".into(),
            ));
        }
        let (challenge, state) = self
            .ceremonies()
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(AppError::internal)?;
        let c = if step_up {
            Ceremony::StepUp { state }
        } else {
            Ceremony::SecondFactor { state }
        };
        self.put_ceremony(me, c).await?;
        Ok(challenge)
    }

    /// Verify an assertion for `user_id` and save the updated counter.
    async fn verify_assertion(
        &self,
        user_id: &str,
        state: &PasskeyAuthentication,
        answer: &PublicKeyCredential,
    ) -> Result<(), AppError> {
        let result = self
            .ceremonies()
            .webauthn
            .finish_passkey_authentication(answer, state)
            .map_err(|_| AppError::SignInFailed)?;
        let rows = self.store().passkeys_for(user_id).await?;
        for row in rows {
            let mut pk: Passkey =
                serde_json::from_str(&row.passkey_json).map_err(AppError::internal)?;
            if pk.cred_id() == result.cred_id() {
                pk.update_credential(&result);
                let json = serde_json::to_string(&pk).map_err(AppError::internal)?;
                self.store()
                    .update_passkey_after_use(&row.id, &json, self.now().as_seconds())
                    .await?;
                return Ok(());
            }
        }
        Err(AppError::SignInFailed)
    }

    /// Second factor by passkey, after the password.
    pub async fn start_passkey_second_factor(
        &self,
        me: &CurrentSession,
    ) -> Result<RequestChallengeResponse, AppError> {
        if me.state != SessionState::AwaitingSecondFactor {
            return Err(AppError::Unauthenticated);
        }
        self.start_assertion(me, false).await
    }

    pub async fn finish_passkey_second_factor(
        &self,
        me: &CurrentSession,
        answer: &PublicKeyCredential,
        client: &Client,
    ) -> Result<String, AppError> {
        if me.state != SessionState::AwaitingSecondFactor {
            return Err(AppError::Unauthenticated);
        }
        let Ceremony::SecondFactor { state } = self.take_ceremony(me).await? else {
            return Err(AppError::InvalidInput(
                "no passkey sign-in is pending; start again".into(),
            ));
        };
        let user = self.active_user(&me.user.id).await?;
        if let Err(e) = self.verify_assertion(&me.user.id, &state, answer).await {
            self.audit(
                &me.actor(),
                AuditAction::SecondFactorFailed,
                &format!("user:{}", me.user.id),
                "failure",
                client,
                json!({"factor": "passkey"}),
            )
            .await?;
            return Err(e);
        }
        let keys = crate::throttle::ThrottleKeys::new(&user.email, client);
        self.attempt_succeeded(&keys, &user, client).await?;
        self.complete_sign_in(me, &user, SignInMethod::PasswordAndPasskey, client)
            .await
    }

    /// Step-up by passkey.
    pub async fn start_passkey_step_up(
        &self,
        me: &CurrentSession,
    ) -> Result<RequestChallengeResponse, AppError> {
        if !me.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        self.start_assertion(me, true).await
    }

    pub async fn finish_passkey_step_up(
        &self,
        me: &CurrentSession,
        answer: &PublicKeyCredential,
        client: &Client,
    ) -> Result<String, AppError> {
        if !me.is_signed_in() {
            return Err(AppError::Unauthenticated);
        }
        let Ceremony::StepUp { state } = self.take_ceremony(me).await? else {
            return Err(AppError::InvalidInput(
                "no re-authentication is pending; start again".into(),
            ));
        };
        if let Err(e) = self.verify_assertion(&me.user.id, &state, answer).await {
            self.audit(
                &me.actor(),
                AuditAction::StepUpFailed,
                &format!("user:{}", me.user.id),
                "failure",
                client,
                json!({"factor": "passkey"}),
            )
            .await?;
            return Err(e);
        }
        self.audit(
            &me.actor(),
            AuditAction::StepUpSucceeded,
            &format!("user:{}", me.user.id),
            "success",
            client,
            json!({"factor": "passkey"}),
        )
        .await?;
        self.rotate_session(me, me.state, true).await
    }

    /// Sign in with a passkey alone. The answer looks the same whether or not the account
    /// exists or has passkeys: unknown accounts get stable fake credential ids.
    /// Returns the browser challenge and the sealed ceremony to keep in a cookie.
    pub async fn start_passkey_sign_in(
        &self,
        email: &str,
    ) -> Result<(serde_json::Value, String), AppError> {
        let email = email.trim().to_lowercase();
        let nonce = token::issue("").secret;
        let user = match sealroom_domain::EmailAddress::parse(&email) {
            Ok(e) => self.store().user_by_email(e.as_str()).await?,
            Err(_) => None,
        }
        .filter(|u| UserStatus::parse(&u.status) == Some(UserStatus::Active));
        let passkeys = match &user {
            Some(u) => parse_passkeys(&self.store().passkeys_for(&u.id).await?)?,
            None => Vec::new(),
        };
        let (challenge, ceremony) = if let (Some(u), false) = (&user, passkeys.is_empty()) {
            let (challenge, state) = self
                .ceremonies()
                .webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(AppError::internal)?;
            (
                serde_json::to_value(challenge).map_err(AppError::internal)?,
                SignInCeremony {
                    nonce: nonce.clone(),
                    user_id: Some(u.id.clone()),
                    state: Some(state),
                },
            )
        } else {
            let ids = self
                .ceremonies()
                .fake
                .generate(email.as_bytes())
                .map_err(AppError::internal)?;
            let challenge = token::issue("").secret;
            let allow: Vec<_> = ids
                .iter()
                .map(|id| json!({"type": "public-key", "id": URL_SAFE_NO_PAD.encode(id)}))
                .collect();
            let rp_id = self
                .settings()
                .public_url
                .host_str()
                .unwrap_or_default()
                .to_owned();
            (
                json!({"publicKey": {"challenge": challenge, "timeout": 300000, "rpId": rp_id,
                "allowCredentials": allow, "userVerification": "required"}}),
                SignInCeremony {
                    nonce: nonce.clone(),
                    user_id: None,
                    state: None,
                },
            )
        };
        let sealed = self.seal_ceremony("passkey-sign-in", ceremony)?;
        let now = self.now();
        self.store()
            .insert_link(&LinkRow {
                digest: token::digest(&nonce),
                purpose: LinkPurpose::PasskeySignIn.as_str().to_owned(),
                user_id: None,
                created_at: now.as_seconds(),
                expires_at: now.as_seconds() + CEREMONY_SECONDS,
                used_at: None,
            })
            .await?;
        Ok((challenge, URL_SAFE_NO_PAD.encode(sealed)))
    }

    pub async fn finish_passkey_sign_in(
        &self,
        sealed: &str,
        answer: &PublicKeyCredential,
        client: &Client,
    ) -> Result<IssuedSession, AppError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed.as_bytes())
            .map_err(|_| AppError::SignInFailed)?;
        let ceremony: SignInCeremony = self.open_ceremony("passkey-sign-in", &bytes)?;
        let spent = self
            .store()
            .spend_link(
                &token::digest(&ceremony.nonce),
                LinkPurpose::PasskeySignIn,
                self.now().as_seconds(),
            )
            .await?;
        if spent.is_none() {
            return Err(AppError::SignInFailed);
        }
        let (Some(user_id), Some(state)) = (ceremony.user_id, ceremony.state) else {
            return Err(AppError::SignInFailed);
        };
        let user = self.active_user(&user_id).await?;
        if self
            .verify_assertion(&user.id, &state, answer)
            .await
            .is_err()
        {
            self.audit(
                "anonymous",
                AuditAction::SignInFailed,
                &format!("user:{}", user.id),
                "failure",
                client,
                json!({"factor": "passkey"}),
            )
            .await?;
            return Err(AppError::SignInFailed);
        }
        let session = self
            .create_session(&user, SessionState::SignedIn(SignInMethod::Passkey), client)
            .await?;
        let keys = crate::throttle::ThrottleKeys::new(&user.email, client);
        self.attempt_succeeded(&keys, &user, client).await?;
        if user.password_locked != 0 {
            // A phishing-resistant sign-in proves the person: lift the password lock.
            self.store()
                .set_password_locked(&user.id, false, self.now().as_seconds())
                .await?;
            self.audit(
                &format!("user:{}", user.id),
                AuditAction::AccountUnlocked,
                &format!("user:{}", user.id),
                "passkey_sign_in",
                client,
                json!({}),
            )
            .await?;
        }
        self.after_sign_in(&session.session_id, &user, SignInMethod::Passkey, client)
            .await?;
        Ok(session)
    }

    pub async fn my_passkeys(&self, me: &CurrentSession) -> Result<Vec<PasskeySummary>, AppError> {
        Ok(self
            .store()
            .passkeys_for(&me.user.id)
            .await?
            .into_iter()
            .map(|r| PasskeySummary {
                id: r.id,
                name: r.name,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
            })
            .collect())
    }

    pub(crate) async fn active_user(&self, user_id: &str) -> Result<UserRow, AppError> {
        self.store()
            .user_by_id(user_id)
            .await?
            .filter(|u| UserStatus::parse(&u.status) == Some(UserStatus::Active))
            .ok_or(AppError::SignInFailed)
    }

    /// Factors may be added during enrolment, or when signed in with a fresh step-up.
    pub(crate) fn require_factor_change_allowed(
        &self,
        me: &CurrentSession,
    ) -> Result<(), AppError> {
        match me.state {
            SessionState::Enrolling => Ok(()),
            SessionState::SignedIn(_) if me.stepped_up(self.now()) => Ok(()),
            SessionState::SignedIn(_) => Err(AppError::StepUpRequired),
            SessionState::AwaitingSecondFactor => Err(AppError::Unauthenticated),
        }
    }
}
