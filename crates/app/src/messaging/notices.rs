//! E-mail notices for recipients who were not connected when messages arrived: one notice per
//! mailbox per batch, saying only how many secure messages wait and where to read them. No
//! subject, sender, patient or content ever goes out by e-mail.

use sealroom_store::UserStatus;

use super::Mailbox;
use crate::mail::templates;
use crate::{App, AppError};

impl App {
    /// Someone outside has unread messages: one e-mail per thread they are still on, with a
    /// fresh link to it (the older link stops working), nothing about what waits.
    async fn send_outside_notice(&self, recipient_id: &str, mailbox: &str) -> Result<(), AppError> {
        let Some(email) = self.outside_email(recipient_id).await? else {
            return Ok(());
        };
        let unread: Vec<String> = self
            .store()
            .unread_by_thread(&[mailbox.to_owned()])
            .await?
            .into_iter()
            .map(|(thread, ..)| thread)
            .collect();
        let organization = self.settings().organization_name.clone();
        for i in self.store().outside_invitations_of(recipient_id).await? {
            if unread.contains(&i.thread_id) {
                let link = self.renew_outside_link(&i).await?;
                self.send_mail_in_background(
                    templates::outside_message_waiting(&email, &organization, &link),
                    "outside recipient notice",
                );
            }
        }
        Ok(())
    }

    /// Send the notices whose first waiting message is older than the batching delay (the
    /// periodic job). A notice that cannot be prepared is put back for the next run. Returns
    /// how many mailboxes were told.
    pub async fn send_message_notices(&self) -> Result<usize, AppError> {
        let now = self.now().as_seconds();
        let delay = self.settings().messaging.notice_delay.as_seconds();
        let due = self.store().take_message_notices(now - delay).await?;
        let mut told = 0;
        for (mailbox, waiting, first_at) in due {
            match self.send_notice(&mailbox, waiting, now).await {
                Ok(()) => told += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "a message notice failed; it will be retried");
                    self.store()
                        .requeue_message_notice(&mailbox, waiting, first_at)
                        .await?;
                }
            }
        }
        Ok(told)
    }

    async fn send_notice(&self, mailbox: &str, waiting: i64, now: i64) -> Result<(), AppError> {
        let organization = self.settings().organization_name.clone();
        let inbox = self.link("/messages");
        let staff = match Mailbox::parse(mailbox)? {
            Mailbox::User(id) => vec![id],
            Mailbox::Department(id) => self
                .store()
                .assignments_in(&id, now)
                .await?
                .into_iter()
                .filter(|a| a.valid_from <= now && a.confirmed == 1)
                .map(|a| a.user_id)
                .collect(),
            Mailbox::Patient(id) => {
                let space = format!("{}/messages", self.patient_space_url());
                return self
                    .notify_patient(
                        &id,
                        "new_message",
                        |to| templates::patient_new_message(to, &organization, &space),
                        crate::sms::templates::new_message(&organization, &space),
                    )
                    .await;
            }
            Mailbox::Outside(id) => return self.send_outside_notice(&id, mailbox).await,
        };
        for id in staff {
            if let Some(u) = self.store().user_by_id(&id).await? {
                if UserStatus::parse(&u.status) == Some(UserStatus::Active) {
                    self.send_mail_in_background(
                        templates::messages_waiting(&u.email, &organization, waiting, &inbox),
                        "message notice",
                    );
                }
            }
        }
        Ok(())
    }
}
