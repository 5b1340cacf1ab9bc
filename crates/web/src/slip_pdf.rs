//! The access slip as a one-page A4 PDF, for desks that print from a PDF viewer. Built-in
//! PDF fonts only (Helvetica, Courier): nothing to embed, nothing fetched.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use sealroom_app::access_slips::IssuedSlip;

/// Text for a built-in font (WinAnsi encoding): Latin-1 passes through; typographic quotes
/// and dashes are mapped; anything else becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' => b'\'',
            '\u{201C}' | '\u{201D}' => b'"',
            '\u{2013}' | '\u{2014}' => b'-',
            c if (c as u32) < 0x7f && (c as u32) >= 0x20 => c as u8,
            c if (0xa0..=0xff).contains(&(c as u32)) => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

/// Lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().map(|l| l.len()).unwrap_or(0);
        if last > 0 && last + 1 + word.len() > width {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

pub fn render(organization: &str, slip: &IssuedSlip) -> Vec<u8> {
    let (catalog, tree, page, contents) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let (sans, bold, mono) = (Ref::new(5), Ref::new(6), Ref::new(7));
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, 595.0, 842.0))
        .parent(tree)
        .contents(contents);
    p.resources()
        .fonts()
        .pair(Name(b"F1"), sans)
        .pair(Name(b"F2"), bold)
        .pair(Name(b"F3"), mono);
    p.finish();
    for (id, name) in [
        (sans, &b"Helvetica"[..]),
        (bold, b"Helvetica-Bold"),
        (mono, b"Courier-Bold"),
    ] {
        pdf.type1_font(id)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }

    let mut c = Content::new();
    let mut y = 780.0;
    let line = |c: &mut Content, font: &[u8], size: f32, x: f32, text: &str, y: &mut f32| {
        c.begin_text();
        c.set_font(Name(font), size);
        c.next_line(x, *y);
        c.show(Str(&win_ansi(text)));
        c.end_text();
        *y -= size * 1.5;
    };
    line(&mut c, b"F2", 22.0, 56.0, "Your results, online", &mut y);
    line(&mut c, b"F1", 12.0, 56.0, organization, &mut y);
    y -= 18.0;
    let (reference_label, reference) = slip.printed_reference();
    for (label, value, size) in [
        ("Patient ID", slip.patient_number.as_str(), 16.0),
        (reference_label, reference, 16.0),
        ("Activation code", slip.activation_secret.as_str(), 24.0),
        ("Address", slip.patient_space_url.as_str(), 13.0),
    ] {
        line(&mut c, b"F1", 11.0, 56.0, label, &mut y);
        line(&mut c, b"F3", size, 56.0, value, &mut y);
        y -= 8.0;
    }
    y -= 10.0;
    line(&mut c, b"F2", 14.0, 56.0, "How to start", &mut y);
    let steps = [
        "1. Go to the address above.",
        "2. Enter your patient ID, the test ID and the activation code. Capitals, spaces and dashes do not matter.",
        "3. Choose how you will prove it is you next time: a password, a passkey, or a code sent to your phone or e-mail.",
    ];
    for step in steps {
        for text in wrap(step, 85) {
            line(&mut c, b"F1", 11.0, 56.0, &text, &mut y);
        }
    }
    y -= 10.0;
    let warning = format!(
        "The activation code works once. After 5 wrong codes this slip stops working: ask at the desk for a new \
         one, with an identity document. Keep this slip to yourself. Nobody from {organization} will ever ask you \
         for this code."
    );
    for text in wrap(&warning, 85) {
        line(&mut c, b"F1", 11.0, 56.0, &text, &mut y);
    }
    pdf.stream(contents, &c.finish());
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_mapped_to_the_built_in_encoding_and_wrapped() {
        assert_eq!(
            win_ansi("Hôpital d’Ixelles – 3€"),
            b"H\xf4pital d'Ixelles - 3?"
        );
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("", 7), [""]);
    }
}
