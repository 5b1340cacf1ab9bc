//! SCIM filters (RFC 7644 §3.4.2.2): parsing and evaluation against a rendered resource.
//!
//! Supported: `eq ne co sw ew gt ge lt le pr`, `and`, `or`, `not ( … )`, parentheses, and
//! value paths such as `emails[type eq "work" and value co "@hospital"]`. Attribute names
//! are case-insensitive; string comparisons follow each attribute's `caseExact`.

use serde_json::Value;

use super::schema::{self, ResourceKind};
use super::ScimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(String),
    Compare(String, Op, Value),
    /// `attr[filter]`, optionally followed by `.sub` in PATCH paths (not in filters).
    ValuePath(String, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(detail.into())
}

fn tokenize(input: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            ']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(invalid("a string in the filter is not closed with '\"'"));
                }
                i += 1;
                let text: String = chars[start..i].iter().collect();
                let value: Value = serde_json::from_str(&text)
                    .map_err(|_| invalid(format!("{text} is not a valid JSON string")))?;
                tokens.push(Token::Literal(value));
            }
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r()[]\"".contains(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(match word.as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "null" => Token::Literal(Value::Null),
                    w if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') => Token::Literal(
                        serde_json::from_str(w)
                            .map_err(|_| invalid(format!("'{w}' is not a number")))?,
                    ),
                    _ => Token::Word(word),
                });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            if self.next() != Some(Token::Open) {
                return Err(invalid("'not' must be followed by '('"));
            }
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err(invalid("a '(' is not closed"));
            }
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err(invalid("a '(' is not closed"));
            }
            return Ok(inner);
        }
        let Some(Token::Word(path)) = self.next() else {
            return Err(invalid("expected an attribute name"));
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.pos += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::CloseBracket) {
                return Err(invalid("a '[' is not closed"));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let Some(Token::Word(op)) = self.next() else {
            return Err(invalid(format!("expected an operator after '{path}'")));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(invalid(format!("'{other}' is not a filter operator"))),
        };
        let Some(Token::Literal(value)) = self.next() else {
            return Err(invalid(format!(
                "expected a value (a quoted string, number, true, false or null) after '{path}'"
            )));
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parse a whole filter.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    if input.len() > 4096 {
        return Err(invalid("the filter is longer than 4096 characters"));
    }
    let mut p = Parser {
        tokens: tokenize(input)?,
        pos: 0,
    };
    let f = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(invalid("the filter has unexpected text after its end"));
    }
    Ok(f)
}

/// Parse a PATCH path: `attr`, `attr.sub`, `urn:…:attr`, `attr[filter]` or `attr[filter].sub`.
pub fn parse_path(input: &str) -> Result<(String, Option<Filter>, Option<String>), ScimError> {
    let bad = || ScimError::invalid_path(format!("'{input}' is not a valid attribute path"));
    match input.find('[') {
        None => {
            if input.is_empty() || input.contains([' ', ']', '"']) {
                return Err(bad());
            }
            Ok((input.to_owned(), None, None))
        }
        Some(open) => {
            let close = input.rfind(']').ok_or_else(bad)?;
            if close < open {
                return Err(bad());
            }
            let attr = &input[..open];
            let filter = parse(&input[open + 1..close]).map_err(|_| {
                ScimError::invalid_path(format!("the filter in '{input}' is not valid"))
            })?;
            let rest = &input[close + 1..];
            let sub = match rest {
                "" => None,
                r => Some(r.strip_prefix('.').ok_or_else(bad)?.to_owned()),
            };
            Ok((attr.to_owned(), Some(filter), sub))
        }
    }
}

/// Look up a key case-insensitively.
pub fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The values at `path` in `resource` (flattened over multi-valued attributes), and whether
/// they compare case-exactly.
fn values_at<'a>(kind: ResourceKind, resource: &'a Value, path: &str) -> (Vec<&'a Value>, bool) {
    let case_exact = match schema::resolve(kind, path) {
        Some(r) => r.sub.map_or(r.attr.case_exact, |s| s.case_exact),
        None => {
            let first = path.split('.').next().unwrap_or(path);
            first.eq_ignore_ascii_case("id") || first.eq_ignore_ascii_case("externalId")
        }
    };
    let (container, rest): (&Value, String) = match schema::resolve(kind, path) {
        Some(r) if r.extension.is_some() => {
            let Some(ext) = r.extension.and_then(|e| get_ci(resource, e)) else {
                return (Vec::new(), case_exact);
            };
            let rest = match r.sub {
                Some(s) => format!("{}.{}", r.attr.name, s.name),
                None => r.attr.name.clone(),
            };
            (ext, rest)
        }
        _ => {
            let core = kind.core().id.as_str();
            let p = if path.len() > core.len() + 1 && path[..core.len()].eq_ignore_ascii_case(core)
            {
                path[core.len() + 1..].to_owned()
            } else {
                path.to_owned()
            };
            (resource, p)
        }
    };
    let mut current: Vec<&Value> = vec![container];
    for segment in rest.split('.') {
        let mut next = Vec::new();
        for v in current {
            match get_ci(v, segment) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(Value::Null) | None => {}
                Some(other) => next.push(other),
            }
        }
        current = next;
    }
    // A multi-valued complex attribute compared directly compares its `value`s.
    let flattened = current
        .into_iter()
        .flat_map(|v| match v {
            Value::Object(_) => get_ci(v, "value").into_iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect();
    (flattened, case_exact)
}

fn compare(actual: &Value, op: Op, expected: &Value, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Co => a.contains(&e),
                Op::Sw => a.starts_with(&e),
                Op::Ew => a.ends_with(&e),
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            _ => false,
        },
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
                _ => false,
            }
        }
        _ => op == Op::Ne,
    }
}

/// Whether `resource` (as rendered, with `id` and `meta`) matches `filter`.
pub fn matches(kind: ResourceKind, resource: &Value, filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) => matches(kind, resource, a) && matches(kind, resource, b),
        Filter::Or(a, b) => matches(kind, resource, a) || matches(kind, resource, b),
        Filter::Not(f) => !matches(kind, resource, f),
        Filter::Present(path) => {
            let (values, _) = values_at(kind, resource, path);
            values.iter().any(|v| match v {
                Value::String(s) => !s.is_empty(),
                Value::Null => false,
                _ => true,
            })
        }
        Filter::Compare(path, op, expected) => {
            let (values, case_exact) = values_at(kind, resource, path);
            if values.is_empty() {
                // An absent attribute is "not equal" to anything, and matches nothing else.
                return *op == Op::Ne && !expected.is_null();
            }
            if expected.is_null() {
                return match op {
                    Op::Eq => false,
                    Op::Ne => true,
                    _ => false,
                };
            }
            values.iter().any(|v| compare(v, *op, expected, case_exact))
        }
        Filter::ValuePath(attr, inner) => {
            let Some(items) = get_ci(resource, attr).or_else(|| {
                schema::resolve(kind, attr).and_then(|r| {
                    r.extension
                        .and_then(|e| get_ci(resource, e))
                        .and_then(|ext| get_ci(ext, &r.attr.name))
                })
            }) else {
                return false;
            };
            let items: Vec<&Value> = match items {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            items
                .iter()
                .any(|item| element_matches(kind, attr, item, inner))
        }
    }
}

/// Whether one element of a multi-valued attribute matches a value-path filter, whose
/// attribute names are relative to the element (`type eq "work"`).
pub fn element_matches(kind: ResourceKind, attr: &str, element: &Value, filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) => {
            element_matches(kind, attr, element, a) && element_matches(kind, attr, element, b)
        }
        Filter::Or(a, b) => {
            element_matches(kind, attr, element, a) || element_matches(kind, attr, element, b)
        }
        Filter::Not(f) => !element_matches(kind, attr, element, f),
        Filter::Present(sub) => get_ci(element, sub).is_some_and(|v| !v.is_null()),
        Filter::Compare(sub, op, expected) => {
            let case_exact = schema::resolve(kind, &format!("{attr}.{sub}"))
                .and_then(|r| r.sub)
                .is_some_and(|s| s.case_exact);
            match get_ci(element, sub) {
                Some(v) if !v.is_null() => compare(v, *op, expected, case_exact),
                _ => *op == Op::Ne,
            }
        }
        Filter::ValuePath(..) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "u1", "userName": "Ana.Pop", "active": true,
            "name": {"familyName": "Pop", "givenName": "Ana"},
            "emails": [{"value": "ana@hospital.example", "type": "work"}, {"value": "ana@home.example", "type": "home"}],
            "meta": {"resourceType": "User", "lastModified": "2026-11-24T10:00:00Z"},
            schema::ENTERPRISE_USER: {"department": "Cardiology", "employeeNumber": "701"}
        })
    }

    fn check(filter: &str) -> bool {
        matches(ResourceKind::User, &user(), &parse(filter).unwrap())
    }

    #[test]
    fn filters_match_as_rfc_7644_describes() {
        assert!(
            check(r#"userName eq "ana.pop""#),
            "userName is not case-exact"
        );
        assert!(!check(r#"id eq "U1""#), "id is case-exact");
        assert!(check(r#"USERNAME Eq "Ana.Pop" and active eq true"#));
        assert!(!check(r#"userName eq "ana.pop" and active eq false"#));
        assert!(check(r#"userName eq "x" or name.familyName sw "po""#));
        assert!(check(r#"emails[type eq "work" and value co "@hospital"]"#));
        assert!(!check(r#"emails[type eq "other"]"#));
        assert!(check(r#"emails co "home.example""#));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "cardiology""#
        ));
        assert!(check(r#"not (userName eq "x") and title ne "y""#));
        assert!(check("name.givenName pr"));
        assert!(!check("title pr"));
        assert!(check(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#));
        assert!(check(r#"externalId ne "x""#));
    }

    #[test]
    fn malformed_filters_are_refused_with_a_reason() {
        for bad in [
            "userName eq",
            r#"userName zz "a""#,
            r#"(userName eq "a""#,
            r#"userName eq "a" and"#,
            r#"userName eq "unterminated"#,
            r#"userName eq "a" extra"#,
            "",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.scim_type.as_deref(), Some("invalidFilter"), "{bad}");
        }
    }

    #[test]
    fn patch_paths_parse() {
        assert_eq!(parse_path("emails").unwrap(), ("emails".into(), None, None));
        let (attr, filter, sub) = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(attr, "emails");
        assert!(filter.is_some());
        assert_eq!(sub.as_deref(), Some("value"));
        assert!(parse_path(r#"emails[type eq "work""#).is_err());
    }
}
