//! E-mail notices for recipients who were not connected when messages arrived: one notice per
//! mailbox per batch, saying only how many secure messages wait and where to read them. No
//! subject, sender, patient or content ever goes out by e-mail.

use sealroom_store::UserStatus;

use super::Mailbox;
use crate::mail::templates;
use crate::{App, AppError};

impl App {
    /// Send the notices whose first waiting message is older than the batching delay (the
    /// periodic job). Returns how many mailboxes were told.
    pub async fn send_message_notices(&self) -> Result<usize, AppError> {
        let now = self.now().as_seconds();
        let delay = self.settings().messaging.notice_delay.as_seconds();
        let due = self.store().take_message_notices(now - delay).await?;
        let organization = self.settings().organization_name.clone();
        let inbox = self.link("/messages");
        for (mailbox, waiting) in &due {
            match Mailbox::parse(mailbox)? {
                Mailbox::User(id) => {
                    if let Some(u) = self.store().user_by_id(&id).await? {
                        if UserStatus::parse(&u.status) == Some(UserStatus::Active) {
                            self.send_mail_in_background(
                                templates::messages_waiting(
                                    &u.email,
                                    &organization,
                                    *waiting,
                                    &inbox,
                                ),
                                "message notice",
                            );
                        }
                    }
                }
                Mailbox::Department(id) => {
                    for a in self.store().assignments_in(&id, now).await? {
                        if a.valid_from > now || a.confirmed != 1 {
                            continue;
                        }
                        if let Some(u) = self.store().user_by_id(&a.user_id).await? {
                            if UserStatus::parse(&u.status) == Some(UserStatus::Active) {
                                self.send_mail_in_background(
                                    templates::messages_waiting(
                                        &u.email,
                                        &organization,
                                        *waiting,
                                        &inbox,
                                    ),
                                    "message notice",
                                );
                            }
                        }
                    }
                }
                Mailbox::Patient(id) => {
                    let space = self.patient_space_url();
                    self.notify_patient(
                        &id,
                        "new_message",
                        |to| templates::patient_new_document(to, &organization, &space),
                        crate::sms::templates::new_document(&organization, &space),
                    )
                    .await?;
                }
            }
        }
        Ok(due.len())
    }
}
