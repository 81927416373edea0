//! Rust source as tokens with their line numbers: identifiers and punctuation kept, comments
//! dropped, every literal one opaque token (so that braces and paths inside strings, characters
//! and comments are never mistaken for code).

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An identifier or keyword.
    Ident(String),
    /// One punctuation character.
    Punct(char),
    /// A string, character or number.
    Literal,
}

/// A token and the (1-based) line it starts on.
#[derive(Clone, Debug)]
pub struct Spanned {
    pub token: Token,
    pub line: usize,
}

impl Spanned {
    pub fn is_ident(&self, text: &str) -> bool {
        matches!(&self.token, Token::Ident(ident) if ident == text)
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.token == Token::Punct(c)
    }

    pub fn ident(&self) -> Option<&str> {
        match &self.token {
            Token::Ident(ident) => Some(ident),
            _ => None,
        }
    }
}

/// Splits `text` into tokens.
pub fn lex(text: &str) -> Vec<Spanned> {
    let mut lexer = Lexer { chars: text.chars().collect(), at: 0, line: 1, tokens: Vec::new() };
    while lexer.at < lexer.chars.len() {
        lexer.step();
    }
    lexer.tokens
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    tokens: Vec<Spanned>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn push(&mut self, token: Token, line: usize) {
        self.tokens.push(Spanned { token, line });
    }

    fn step(&mut self) {
        let line = self.line;
        let Some(c) = self.peek(0) else { return };
        match c {
            c if c.is_whitespace() => {
                self.bump();
            }
            '/' if self.peek(1) == Some('/') => self.skip_line(),
            '/' if self.peek(1) == Some('*') => self.skip_block_comment(),
            '"' => {
                self.string();
                self.push(Token::Literal, line);
            }
            '\'' => self.quote(line),
            c if c.is_ascii_digit() => {
                self.number();
                self.push(Token::Literal, line);
            }
            c if c.is_alphabetic() || c == '_' => self.word(line),
            c => {
                self.bump();
                self.push(Token::Punct(c), line);
            }
        }
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        let mut depth = 0;
        while let Some(c) = self.bump() {
            match (c, self.peek(0)) {
                ('/', Some('*')) => {
                    self.bump();
                    depth += 1;
                }
                ('*', Some('/')) => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// A `"…"` string with escapes, from its opening quote.
    fn string(&mut self) {
        self.bump();
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '"' => return,
                _ => {}
            }
        }
    }

    /// A raw string from its `r`: `r"…"`, `r#"…"#`, with any number of `#`.
    fn raw_string(&mut self) {
        self.bump();
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            self.bump();
            hashes += 1;
        }
        self.bump();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                self.at += hashes;
                return;
            }
        }
    }

    /// A character literal (`'a'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`).
    fn quote(&mut self, line: usize) {
        self.bump();
        if self.peek(0) == Some('\\') {
            // The backslash, the escaped character, then up to the closing quote (`\u{…}`).
            self.bump();
            self.bump();
            while self.peek(0).is_some_and(|c| c != '\'') {
                self.bump();
            }
            self.bump();
            self.push(Token::Literal, line);
        } else if self.peek(1) == Some('\'') {
            self.bump();
            self.bump();
            self.push(Token::Literal, line);
        } else {
            while self.peek(0).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                self.bump();
            }
            self.push(Token::Punct('\''), line);
        }
    }

    fn number(&mut self) {
        while self.peek(0).is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.number();
        }
    }

    /// An identifier, or a literal with a prefix (`b"…"`, `br#"…"#`, `r"…"`, `c"…"`, `b'x'`).
    fn word(&mut self, line: usize) {
        let start = self.at;
        let prefix: String = self.chars[start..].iter().take(2).collect();
        let raw = |p: &str| p.starts_with('r') && matches!(p.chars().nth(1), Some('"' | '#'));
        if raw(&prefix) && !(prefix == "r#" && self.peek(2).is_some_and(|c| c.is_alphabetic() || c == '_')) {
            self.raw_string();
            return self.push(Token::Literal, line);
        }
        if matches!(self.peek(0), Some('b' | 'c')) {
            match self.peek(1) {
                Some('"') => {
                    self.bump();
                    self.string();
                    return self.push(Token::Literal, line);
                }
                Some('\'') => {
                    self.bump();
                    return self.quote(line);
                }
                Some('r') if matches!(self.peek(2), Some('"' | '#')) => {
                    self.bump();
                    self.raw_string();
                    return self.push(Token::Literal, line);
                }
                _ => {}
            }
        }
        if prefix == "r#" {
            self.at += 2;
        }
        let from = self.at;
        while self.peek(0).is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        let word: String = self.chars[from..self.at].iter().collect();
        self.push(Token::Ident(word), line);
    }
}
