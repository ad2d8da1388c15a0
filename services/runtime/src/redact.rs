//! Personal data stays out of logs: every line a hub service logs passes through [`Redacting`],
//! which masks what could identify a person, whoever wrote it — the hub's own messages, and the
//! messages that come back from agencies and are logged as they came.
//!
//! - **Numbers of ten digits or more** (identity numbers, with a final `X` too; account, card and
//!   phone numbers): all but the last four characters become `*`.
//! - **Unified social credit codes** (18 upper-case letters and digits, at least eight digits):
//!   likewise.
//! - **Chinese text of two characters or more** (names, addresses): all but the first character
//!   become `*`, so `张三` is logged as `张*`. Single characters stay, so court codes (`京0105`)
//!   and case numbers (`（2024）京0105执100号`) read as they are.
//!
//! UUIDs (measure, instruction and report ids) are left whole, even when a group of one is all
//! digits; so are shorter numbers (amounts in fen below ten digits, ports, counts).

use std::{borrow::Cow, io};

use tracing_subscriber::fmt::MakeWriter;

/// The shortest run of digits taken for an identifying number.
const MIN_DIGITS: usize = 10;

/// `text` with personal data masked; borrowed when there is nothing to mask.
pub fn mask(text: &str) -> Cow<'_, str> {
    let chars: Vec<char> = text.chars().collect();
    let mut masked: Option<Vec<char>> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(len) = uuid_at(&chars, i) {
            i += len;
        } else if c.is_ascii_alphanumeric() {
            let end = token_end(&chars, i);
            if identifying(&chars[i..end]) {
                let out = masked.get_or_insert_with(|| chars.clone());
                let keep = end.saturating_sub(4).max(i);
                out[i..keep].fill('*');
            }
            i = end;
        } else if is_han(c) {
            let mut end = i;
            while end < chars.len() && (is_han(chars[end]) || chars[end] == '·') {
                end += 1;
            }
            if end - i >= 2 {
                let out = masked.get_or_insert_with(|| chars.clone());
                out[i + 1..end].fill('*');
            }
            i = end;
        } else {
            i += 1;
        }
    }
    match masked {
        None => Cow::Borrowed(text),
        Some(chars) => Cow::Owned(chars.into_iter().collect()),
    }
}

/// Whether `token` (letters and digits) is an identifying number or code.
fn identifying(token: &[char]) -> bool {
    let digits = token.iter().filter(|c| c.is_ascii_digit()).count();
    let all_digits = digits == token.len();
    // An identity number ends in its check character, which may be X.
    let id_with_x =
        token.len() >= 15 && digits == token.len() - 1 && matches!(token.last(), Some('X' | 'x'));
    let credit_code = token.len() == 18
        && digits >= 8
        && token
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    (all_digits && token.len() >= MIN_DIGITS) || id_with_x || credit_code
}

/// The end of the run of ASCII letters and digits starting at `start`.
fn token_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() && chars[end].is_ascii_alphanumeric() {
        end += 1;
    }
    end
}

/// The length of a UUID (8-4-4-4-12 hex digits) starting at `start` and not inside a longer
/// token, if there is one.
fn uuid_at(chars: &[char], start: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    if start > 0 && chars[start - 1].is_ascii_alphanumeric() {
        return None;
    }
    let mut at = start;
    for (n, len) in GROUPS.iter().enumerate() {
        let group = chars.get(at..at + len)?;
        if !group.iter().all(char::is_ascii_hexdigit) {
            return None;
        }
        at += len;
        if n < GROUPS.len() - 1 {
            if chars.get(at) != Some(&'-') {
                return None;
            }
            at += 1;
        }
    }
    match chars.get(at) {
        Some(c) if c.is_ascii_alphanumeric() => None,
        _ => Some(at - start),
    }
}

/// A CJK ideograph.
fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

/// A [`MakeWriter`] whose writers mask personal data ([`mask`]) in everything written through
/// them. The log formatter writes each event in one call, so a line is masked whole.
#[derive(Clone, Debug, Default)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// A writer masking personal data before passing text on.
#[derive(Debug)]
pub struct RedactingWriter<W>(W);

impl<W: io::Write> io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(mask(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_account_and_phone_numbers_keep_only_their_last_four_characters() {
        assert_eq!(
            mask("subject 11010519491231002X refused"),
            "subject **************002X refused"
        );
        assert_eq!(mask("id=110105194912310021"), "id=**************0021");
        assert_eq!(
            mask("account 6222020200001234567"),
            "account ***************4567"
        );
        assert_eq!(mask("tel 13800138000."), "tel *******8000.");
        assert_eq!(mask("code 91110105MA01ABCD2X"), "code **************CD2X");
    }

    #[test]
    fn names_and_addresses_keep_only_their_first_character() {
        assert_eq!(
            mask("name mismatch: 张三 is not 欧阳娜娜"),
            "name mismatch: 张* is not 欧***"
        );
        assert_eq!(mask("address 北京市朝阳区"), "address 北*****");
        assert_eq!(mask("holder 阿依古丽·买买提"), "holder 阿*******");
    }

    #[test]
    fn court_codes_case_numbers_ids_amounts_and_times_stay() {
        for line in [
            "2026-12-02T07:54:42.123456Z  INFO instruction executed agency=ICBC state=4",
            "court=京0105 case=（2024）京0105执100号 held_fen=100000000",
            "measure=01937654-1234-7123-8123-123456789012 report=0193a7c2-9f1e-7d3a-b2c4-5e6f7a8b9c0d",
            "peer=127.0.0.1:54321 pid 123456789",
        ] {
            assert_eq!(mask(line), line);
        }
    }

    #[test]
    fn a_number_longer_than_a_uuid_group_is_not_taken_for_a_uuid() {
        assert_eq!(
            mask("12345678-1234-1234-1234-1234567890123"),
            "12345678-1234-1234-1234-*********0123"
        );
    }

    #[test]
    fn the_writer_masks_each_line_written_through_it() {
        use std::io::Write;
        let mut out = Vec::new();
        let mut writer = RedactingWriter(&mut out);
        writer
            .write_all("WARN giving up: 张三 6222020200001234\n".as_bytes())
            .expect("written");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "WARN giving up: 张* ************1234\n"
        );
    }
}
