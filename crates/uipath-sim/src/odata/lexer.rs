//! Splits `$filter` and `$orderby` text into tokens, each with the character position ODL
//! reports in its syntax errors.
//!
//! Keywords (`and`, `eq`, `desc`, ...) come out as identifiers; the parser decides what an
//! identifier means where it stands. Unquoted literals (numbers, datetimes, guids) keep their
//! raw text, because their type is only known once the parser sees the field they meet.
//!
//! A `+` outside a string literal or a datetime offset is whitespace: a query string's `+`
//! means a space, and the HTTP layer may or may not have decoded it already.

use super::literal::parse_datetime;
use super::ODataError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name: property, keyword or function. May contain dots (qualified type names).
    Ident(String),
    /// A single-quoted string with `''` already unescaped.
    Str(String),
    /// A type-prefixed string such as `UiPath.Core.Enums.JobState'Faulted'`.
    Typed(String, String),
    /// A number's raw text, sign and type suffix included (`-5`, `123L`, `1.5d`).
    Number(String),
    /// A validated `2024-04-04T12:00:47.264Z`-style literal.
    DateTime(String),
    /// A validated bare date, `2024-04-04`.
    Date(String),
    /// An unquoted guid.
    Guid(String),
    LParen,
    RParen,
    Comma,
    Slash,
    Star,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Zero-based character position of the token's first character.
    pub pos: usize,
}

/// The message ODL gives for text it cannot make sense of at `pos`.
pub(crate) fn syntax_error(pos: usize, text: &str) -> ODataError {
    ODataError::new(format!("Syntax error at position {pos} in '{text}'."))
}

/// Tokenizes `text`; the last token is always [`Tok::Eof`] at the text's length.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer {
        text,
        chars: &chars,
        at: 0,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next()?;
        let done = token.tok == Tok::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

struct Lexer<'t> {
    text: &'t str,
    chars: &'t [char],
    at: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn digits_at(&self, from: usize, count: usize) -> bool {
        (from..from + count).all(|i| self.chars.get(i).is_some_and(char::is_ascii_digit))
    }

    fn slice(&self, from: usize) -> String {
        self.chars[from..self.at].iter().collect()
    }

    fn next(&mut self) -> Result<Token, ODataError> {
        while self.peek(0).is_some_and(|c| c.is_whitespace() || c == '+') {
            self.at += 1;
        }
        let pos = self.at;
        let Some(c) = self.peek(0) else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let punct = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '/' => Some(Tok::Slash),
            '*' => Some(Tok::Star),
            _ => None,
        };
        let tok = if let Some(tok) = punct {
            self.at += 1;
            tok
        } else if c == '\'' {
            Tok::Str(self.string()?)
        } else if let Some(guid) = self.guid() {
            guid
        } else if self.digits_at(pos, 4) && self.peek(4) == Some('-') {
            self.datetime()?
        } else if c.is_ascii_digit()
            || (c == '-' && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
        {
            self.number()?
        } else if is_ident_start(c) {
            while self.peek(0).is_some_and(is_ident_char) {
                self.at += 1;
            }
            let name = self.slice(pos);
            if self.peek(0) == Some('\'') {
                Tok::Typed(name, self.string()?)
            } else {
                Tok::Ident(name)
            }
        } else {
            return Err(ODataError::new(format!(
                "Syntax error: character '{c}' is not valid at position {pos} in '{}'.",
                self.text
            )));
        };
        Ok(Token { tok, pos })
    }

    /// A quoted string starting at the current `'`.
    fn string(&mut self) -> Result<String, ODataError> {
        let start = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek(0) {
                None => {
                    return Err(ODataError::new(format!(
                        "There is an unterminated string literal at position {start} in '{}'.",
                        self.text
                    )))
                }
                Some('\'') if self.peek(1) == Some('\'') => {
                    out.push('\'');
                    self.at += 2;
                }
                Some('\'') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// An unquoted guid (`8-4-4-4-12` hex digits not followed by a name character).
    fn guid(&mut self) -> Option<Tok> {
        const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
        let mut i = self.at;
        for (n, len) in GROUPS.iter().enumerate() {
            if n > 0 {
                if self.chars.get(i) != Some(&'-') {
                    return None;
                }
                i += 1;
            }
            if !(i..i + len).all(|k| self.chars.get(k).is_some_and(char::is_ascii_hexdigit)) {
                return None;
            }
            i += len;
        }
        if self
            .chars
            .get(i)
            .is_some_and(|&c| is_ident_char(c) || c == '-')
        {
            return None;
        }
        let start = self.at;
        self.at = i;
        Some(Tok::Guid(self.slice(start)))
    }

    /// A date (`2024-04-04`) or datetime with `Z` or an offset. The shape is scanned
    /// strictly so that a `+` after the literal stays whitespace.
    fn datetime(&mut self) -> Result<Tok, ODataError> {
        let start = self.at;
        self.at += 4;
        for _ in 0..2 {
            if self.peek(0) != Some('-') || !self.digits_at(self.at + 1, 2) {
                return Err(syntax_error(start, self.text));
            }
            self.at += 3;
        }
        let is_datetime = matches!(self.peek(0), Some('T' | 't'));
        if is_datetime {
            self.at += 1;
            while self
                .peek(0)
                .is_some_and(|c| c.is_ascii_digit() || c == ':' || c == '.')
            {
                self.at += 1;
            }
            match self.peek(0) {
                Some('Z' | 'z') => self.at += 1,
                Some('+' | '-')
                    if self.digits_at(self.at + 1, 2)
                        && self.peek(3) == Some(':')
                        && self.digits_at(self.at + 4, 2) =>
                {
                    self.at += 6
                }
                _ => {}
            }
        }
        let raw = self.slice(start);
        if parse_datetime(&raw).is_none() {
            let edm = if is_datetime {
                "Edm.DateTimeOffset"
            } else {
                "Edm.Date"
            };
            return Err(ODataError::new(format!(
                "Unrecognized '{edm}' literal '{raw}' at '{start}' in '{}'.",
                self.text
            )));
        }
        Ok(if is_datetime {
            Tok::DateTime(raw)
        } else {
            Tok::Date(raw)
        })
    }

    /// `-? digits (. digits)? ([eE] [+-]? digits)? [LlDdMmFf]?`, not followed by a name.
    fn number(&mut self) -> Result<Tok, ODataError> {
        let start = self.at;
        let skip_digits = |lexer: &mut Self| {
            while lexer.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                lexer.at += 1;
            }
        };
        if self.peek(0) == Some('-') {
            self.at += 1;
        }
        skip_digits(self);
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
            skip_digits(self);
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek(1), Some('+' | '-')));
            if self.peek(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                self.at += 1 + sign;
                skip_digits(self);
            }
        }
        if matches!(
            self.peek(0),
            Some('L' | 'l' | 'D' | 'd' | 'M' | 'm' | 'F' | 'f')
        ) {
            self.at += 1;
        }
        if self.peek(0).is_some_and(is_ident_char) {
            return Err(syntax_error(start, self.text));
        }
        Ok(Tok::Number(self.slice(start)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        lex(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn ident(s: &str) -> Tok {
        Tok::Ident(s.to_owned())
    }

    #[test]
    fn splits_a_keyset_filter_with_plus_as_space() {
        let text = "(CreationTime+gt+2024-01-01T00:00:00Z or Id gt 42L)";
        assert_eq!(
            toks(text),
            vec![
                Tok::LParen,
                ident("CreationTime"),
                ident("gt"),
                Tok::DateTime("2024-01-01T00:00:00Z".into()),
                ident("or"),
                ident("Id"),
                ident("gt"),
                Tok::Number("42L".into()),
                Tok::RParen,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn positions_are_character_offsets() {
        let tokens = lex("Name eq 'é' and Id").unwrap();
        let pos: Vec<usize> = tokens.iter().map(|t| t.pos).collect();
        assert_eq!(pos, vec![0, 5, 8, 12, 16, 18]);
    }

    #[test]
    fn datetime_offsets_keep_their_plus_sign() {
        assert_eq!(
            toks("2024-04-04T14:00:00+02:00 2024-04-04T14:00:00.1234567-05:30 2024-04-04"),
            vec![
                Tok::DateTime("2024-04-04T14:00:00+02:00".into()),
                Tok::DateTime("2024-04-04T14:00:00.1234567-05:30".into()),
                Tok::Date("2024-04-04".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn strings_unescape_doubled_quotes_and_keep_plus() {
        assert_eq!(
            toks("'it''s a+b'"),
            vec![Tok::Str("it's a+b".into()), Tok::Eof]
        );
        assert_eq!(
            toks("UiPath.Core.Enums.JobState'Faulted'"),
            vec![
                Tok::Typed("UiPath.Core.Enums.JobState".into(), "Faulted".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn guids_win_over_names_and_numbers() {
        assert_eq!(
            toks("abcdef01-2345-6789-abcd-ef0123456789 01234567-89ab-cdef-0123-456789abcdef"),
            vec![
                Tok::Guid("abcdef01-2345-6789-abcd-ef0123456789".into()),
                Tok::Guid("01234567-89ab-cdef-0123-456789abcdef".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(toks("abcdef01"), vec![ident("abcdef01"), Tok::Eof]);
    }

    #[test]
    fn numbers_keep_sign_fraction_exponent_and_suffix() {
        assert_eq!(
            toks("-5 1.5d 2m 1e-7 123L 7"),
            ["-5", "1.5d", "2m", "1e-7", "123L", "7"]
                .iter()
                .map(|s| Tok::Number((*s).into()))
                .chain([Tok::Eof])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn malformed_input_is_reported_with_its_position() {
        let err = lex("Name eq 'open").unwrap_err();
        assert_eq!(
            err.message,
            "There is an unterminated string literal at position 8 in 'Name eq 'open'."
        );
        let err = lex("Id eq 12abc").unwrap_err();
        assert_eq!(err.message, "Syntax error at position 6 in 'Id eq 12abc'.");
        let err = lex("Id eq #").unwrap_err();
        assert_eq!(
            err.message,
            "Syntax error: character '#' is not valid at position 6 in 'Id eq #'."
        );
        let err = lex("CreationTime gt 2024-13-01T00:00:00Z").unwrap_err();
        assert_eq!(
            err.message,
            "Unrecognized 'Edm.DateTimeOffset' literal '2024-13-01T00:00:00Z' at '16' in \
             'CreationTime gt 2024-13-01T00:00:00Z'."
        );
        // A `+`-decoded offset loses its sign and is then missing an offset altogether.
        let err = lex("CreationTime gt 2024-04-04T14:00:00 02:00").unwrap_err();
        assert!(err
            .message
            .starts_with("Unrecognized 'Edm.DateTimeOffset' literal"));
    }
}
