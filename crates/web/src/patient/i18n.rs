//! The patient space's languages: Fluent messages compiled into the binary from
//! `crates/web/locales/<lang>/patient.ftl`. The language is the one the patient chose (a cookie
//! set by the language switch), else the browser's best match (`Accept-Language`), else
//! English.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};

use crate::extract::cookie;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: pages are plain HTML.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The cookie that keeps the patient's language choice.
pub const LANGUAGE_COOKIE: &str = "__Host-sealroom-lang";

/// A language the patient space speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::En => fluent_templates::langid!("en"),
            Lang::Fr => fluent_templates::langid!("fr"),
        }
    }

    /// The best of our languages for an `Accept-Language` header.
    pub fn negotiate(accept_language: &str) -> Lang {
        let requested = fluent_langneg::accepted_languages::parse(accept_language);
        let available: Vec<LanguageIdentifier> = Lang::ALL.iter().map(|l| l.id()).collect();
        let default = Lang::En.id();
        let chosen = fluent_langneg::negotiate_languages(
            &requested,
            &available,
            Some(&default),
            fluent_langneg::NegotiationStrategy::Lookup,
        );
        chosen
            .first()
            .and_then(|id| Lang::ALL.into_iter().find(|l| &l.id() == *id))
            .unwrap_or(Lang::En)
    }

    /// The message `key`.
    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(&self.id(), key)
    }

    /// The message `key` with arguments.
    pub fn t_with(self, key: &str, args: &[(&'static str, FluentValue<'static>)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), v.clone()))
            .collect();
        LOCALES.lookup_with_args(&self.id(), key, &map)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(lang) = cookie(&parts.headers, LANGUAGE_COOKIE).and_then(Lang::parse) {
            return Ok(lang);
        }
        let accept = parts
            .headers
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(Lang::negotiate(accept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_is_matched_and_english_is_the_fallback() {
        assert_eq!(Lang::negotiate("fr-BE,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::negotiate("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::negotiate("nl-BE,nl;q=0.9,fr;q=0.5"), Lang::Fr);
        assert_eq!(Lang::negotiate("de"), Lang::En);
        assert_eq!(Lang::negotiate(""), Lang::En);
    }

    #[test]
    fn every_message_exists_in_every_language() {
        let english = include_str!("../../locales/en/patient.ftl");
        let french = include_str!("../../locales/fr/patient.ftl");
        // key → first line of its value, for every message.
        let messages = |text: &str| -> Vec<(String, String)> {
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with(' '))
                .filter_map(|l| l.split_once(" = "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        let (en, fr) = (messages(english), messages(french));
        assert!(en.len() > 50, "only {} English messages", en.len());
        let keys =
            |m: &[(String, String)]| -> Vec<String> { m.iter().map(|(k, _)| k.clone()).collect() };
        let (en_keys, fr_keys) = (keys(&en), keys(&fr));
        let missing_fr: Vec<_> = en_keys.iter().filter(|k| !fr_keys.contains(k)).collect();
        let missing_en: Vec<_> = fr_keys.iter().filter(|k| !en_keys.contains(k)).collect();
        assert!(missing_fr.is_empty(), "missing in French: {missing_fr:?}");
        assert!(missing_en.is_empty(), "missing in English: {missing_en:?}");
        // Words French shares with English; every other message must differ (a message left
        // in English is a missing translation).
        let same = [
            "nav-documents",
            "nav-messages",
            "doc-kind",
            "kind-image",
            "kind-other",
            "field-code",
        ];
        for (key, text) in en.iter().filter(|(k, _)| !same.contains(&k.as_str())) {
            let french = fr.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            assert_ne!(french, Some(text), "{key} is not translated");
        }
        // And the loader finds them: a message with arguments is filled in.
        assert_eq!(
            Lang::Fr.t_with("error-code-wrong", &[("tries", 1.into())]),
            "Le code n'est pas correct. Il vous reste 1 essai."
        );
        assert_eq!(Lang::En.t("nav-history"), "Who looked at my data");
    }
}
