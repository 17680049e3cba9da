//! Tokens of the PowerShell subset. One pass, with the little context PowerShell's own
//! tokenizer uses: a `.` right after a variable or a `)` is member access, anywhere else
//! it belongs to a bare word (`127.0.0.1`, `users.csv`).

use std::fmt;

/// Where a token starts: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// A part of a double-quoted string: text, or a `$variable` to expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrPart {
    Lit(String),
    Var(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A bare word: a command name, an unquoted argument, a member name.
    Word(String),
    /// `-Name`, or `-Name:` when the value follows the colon.
    Param {
        name: String,
        colon: bool,
    },
    Var(String),
    /// A single-quoted string (verbatim).
    Str(String),
    /// A double-quoted string, with its `$variables`.
    ExpStr(Vec<StrPart>),
    Number(i64),
    /// `[System.IO.File]`
    Type(String),
    Pipe,
    Comma,
    Semi,
    Newline,
    Assign,
    LParen,
    RParen,
    LBrace,
    RBrace,
    /// `@(`
    AtParen,
    /// Member access: `.` right after a variable, `)` or member name.
    Dot,
    ColonColon,
    Eof,
}

impl Tok {
    /// How the token looks in a message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => w.clone(),
            Tok::Param { name, .. } => format!("-{name}"),
            Tok::Var(v) => format!("${v}"),
            Tok::Str(s) => format!("'{s}'"),
            Tok::ExpStr(_) => "\"...\"".into(),
            Tok::Number(n) => n.to_string(),
            Tok::Type(t) => format!("[{t}]"),
            Tok::Pipe => "|".into(),
            Tok::Comma => ",".into(),
            Tok::Semi => ";".into(),
            Tok::Newline => "end of line".into(),
            Tok::Assign => "=".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::LBrace => "{".into(),
            Tok::RBrace => "}".into(),
            Tok::AtParen => "@(".into(),
            Tok::Dot => ".".into(),
            Tok::ColonColon => "::".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// A script that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
    /// The input ended inside a string, a block or a pipeline: more lines may complete
    /// it (the interactive shell asks for them).
    pub incomplete: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Characters that end a bare word.
fn ends_word(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '|' | ';' | ',' | '(' | ')' | '{' | '}' | '\'' | '"' | '`'
        )
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    out: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn err(pos: Pos, message: impl Into<String>, incomplete: bool) -> ParseError {
        ParseError {
            pos,
            message: message.into(),
            incomplete,
        }
    }

    fn push(&mut self, tok: Tok, pos: Pos) {
        self.out.push(Token { tok, pos });
    }

    /// Member access follows a variable, a `)` or a member name, with no space.
    fn member_position(&self) -> bool {
        let Some(last) = self.out.last() else {
            return false;
        };
        let adjacent = self.i > 0 && !self.chars[self.i - 1].is_whitespace();
        let after_member = matches!(last.tok, Tok::Word(_))
            && self.out.len() >= 2
            && self.out[self.out.len() - 2].tok == Tok::Dot;
        adjacent && (matches!(last.tok, Tok::Var(_) | Tok::RParen) || after_member)
    }

    fn ident(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0).filter(|c| is_ident(*c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    fn single_quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(Self::err(
                        start,
                        "The string is missing the terminator: '.",
                        true,
                    ));
                }
                Some('\'') if self.peek(0) == Some('\'') => {
                    self.bump();
                    s.push('\'');
                }
                Some('\'') => return Ok(Tok::Str(s)),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
        self.bump();
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(Self::err(
                        start,
                        "The string is missing the terminator: \".",
                        true,
                    ));
                }
                Some('"') if self.peek(0) == Some('"') => {
                    self.bump();
                    lit.push('"');
                }
                Some('"') => break,
                Some('`') => match self.bump() {
                    Some('n') => lit.push('\n'),
                    Some('t') => lit.push('\t'),
                    Some('r') => lit.push('\r'),
                    Some('0') => lit.push('\0'),
                    Some(c) => lit.push(c),
                    None => {
                        return Err(Self::err(
                            start,
                            "The string is missing the terminator: \".",
                            true,
                        ));
                    }
                },
                Some('$') if self.peek(0).is_some_and(|c| is_ident(c) || c == '{') => {
                    let name = self.variable_name()?;
                    if !lit.is_empty() {
                        parts.push(StrPart::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(StrPart::Var(name));
                }
                Some(c) => lit.push(c),
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(StrPart::Lit(lit));
        }
        Ok(Tok::ExpStr(parts))
    }

    /// After the `$`: `name`, `env:NAME`, `_`, or `{any name}`.
    fn variable_name(&mut self) -> Result<String, ParseError> {
        let start = self.pos();
        if self.peek(0) == Some('{') {
            self.bump();
            let mut s = String::new();
            loop {
                match self.bump() {
                    Some('}') => return Ok(s),
                    Some(c) => s.push(c),
                    None => return Err(Self::err(start, "Missing closing '}' of ${...}.", true)),
                }
            }
        }
        let mut name = self.ident();
        // A scope or drive qualifier: $env:USER, $script:x.
        if self.peek(0) == Some(':') && self.peek(1).is_some_and(is_ident) && !name.is_empty() {
            self.bump();
            name.push(':');
            name.push_str(&self.ident());
        }
        Ok(name)
    }

    fn block_comment(&mut self, start: Pos) -> Result<(), ParseError> {
        self.bump();
        self.bump();
        loop {
            match self.bump() {
                None => {
                    return Err(Self::err(
                        start,
                        "Missing closing '#>' of the block comment.",
                        true,
                    ));
                }
                Some('#') if self.peek(0) == Some('>') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    fn run(mut self) -> Result<Vec<Token>, ParseError> {
        while let Some(c) = self.peek(0) {
            let pos = self.pos();
            match c {
                '\n' => {
                    self.bump();
                    if !matches!(self.out.last().map(|t| &t.tok), Some(Tok::Newline)) {
                        self.push(Tok::Newline, pos);
                    }
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                '`' => {
                    // A backtick at the end of a line continues the statement.
                    self.bump();
                    while self
                        .peek(0)
                        .is_some_and(|c| c == ' ' || c == '\t' || c == '\r')
                    {
                        self.bump();
                    }
                    match self.peek(0) {
                        Some('\n') => {
                            self.bump();
                        }
                        None => {
                            return Err(Self::err(pos, "Missing the line after '`'.", true));
                        }
                        Some(_) => {
                            // An escaped character starts a bare word.
                            let c = self.bump().unwrap_or_default();
                            let mut w = c.to_string();
                            w.push_str(&self.word_rest());
                            self.push(Tok::Word(w), pos);
                        }
                    }
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '<' if self.peek(1) == Some('#') => self.block_comment(pos)?,
                '|' => {
                    self.bump();
                    if self.peek(0) == Some('|') {
                        return Err(Self::err(
                            pos,
                            "The token '||' is not supported here; use a new line or ';'.",
                            false,
                        ));
                    }
                    self.push(Tok::Pipe, pos);
                }
                ',' => {
                    self.bump();
                    self.push(Tok::Comma, pos);
                }
                ';' => {
                    self.bump();
                    self.push(Tok::Semi, pos);
                }
                '(' => {
                    self.bump();
                    self.push(Tok::LParen, pos);
                }
                ')' => {
                    self.bump();
                    self.push(Tok::RParen, pos);
                }
                '{' => {
                    self.bump();
                    self.push(Tok::LBrace, pos);
                }
                '}' => {
                    self.bump();
                    self.push(Tok::RBrace, pos);
                }
                '\'' => {
                    let t = self.single_quoted(pos)?;
                    self.push(t, pos);
                }
                '"' => {
                    let t = self.double_quoted(pos)?;
                    self.push(t, pos);
                }
                '$' => {
                    self.bump();
                    let name = self.variable_name()?;
                    if name.is_empty() {
                        return Err(Self::err(
                            pos,
                            "Variable reference is not valid. '$' was not followed by a valid variable name character.",
                            false,
                        ));
                    }
                    self.push(Tok::Var(name), pos);
                }
                '@' if self.peek(1) == Some('(') => {
                    self.bump();
                    self.bump();
                    self.push(Tok::AtParen, pos);
                }
                '@' if self.peek(1) == Some('{') => {
                    return Err(Self::err(
                        pos,
                        "Hash literals (@{...}) are not supported by this shell.",
                        false,
                    ));
                }
                '[' if !self.member_position() => {
                    self.bump();
                    let mut name = String::new();
                    loop {
                        match self.bump() {
                            Some(']') => break,
                            Some('\n') => {
                                return Err(Self::err(
                                    pos,
                                    "Missing ']' after the type name.",
                                    false,
                                ));
                            }
                            Some(c) => name.push(c),
                            None => {
                                return Err(Self::err(
                                    pos,
                                    "Missing ']' after the type name.",
                                    true,
                                ));
                            }
                        }
                    }
                    self.push(Tok::Type(name.trim().to_string()), pos);
                    if self.peek(0) == Some(':') && self.peek(1) == Some(':') {
                        let p = self.pos();
                        self.bump();
                        self.bump();
                        self.push(Tok::ColonColon, p);
                        let member = self.ident();
                        if member.is_empty() {
                            return Err(Self::err(
                                self.pos(),
                                "Missing the member name after '::'.",
                                false,
                            ));
                        }
                        let p2 = Pos {
                            line: p.line,
                            col: p.col + 2,
                        };
                        self.push(Tok::Word(member), p2);
                    }
                }
                '.' if self.member_position() && self.peek(1).is_some_and(is_ident) => {
                    self.bump();
                    self.push(Tok::Dot, pos);
                    let p = self.pos();
                    let member = self.ident();
                    self.push(Tok::Word(member), p);
                }
                '=' => {
                    self.bump();
                    self.push(Tok::Assign, pos);
                }
                '>' => {
                    return Err(Self::err(
                        pos,
                        "Redirection ('>') is not supported by this shell; pipe into Out-Null to discard output.",
                        false,
                    ));
                }
                '-' if self.peek(1).is_some_and(|c| c.is_alphabetic()) => {
                    self.bump();
                    let mut name = String::new();
                    while let Some(c) = self.peek(0).filter(|c| is_ident(*c) || *c == '-') {
                        name.push(c);
                        self.bump();
                    }
                    let colon = self.peek(0) == Some(':');
                    if colon {
                        self.bump();
                    }
                    self.push(Tok::Param { name, colon }, pos);
                }
                _ => {
                    let w = self.word_rest();
                    let tok = match w.parse::<i64>() {
                        Ok(n) => Tok::Number(n),
                        Err(_) => Tok::Word(w),
                    };
                    self.push(tok, pos);
                }
            }
        }
        let pos = self.pos();
        self.push(Tok::Eof, pos);
        Ok(self.out)
    }

    fn word_rest(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek(0).filter(|c| !ends_word(*c)) {
            w.push(c);
            self.bump();
        }
        w
    }
}

/// The tokens of a script, ending with [`Tok::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        out: Vec::new(),
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_parameters_and_member_access() {
        assert_eq!(
            toks(
                "New-MigrationEndpoint -Name Cutover -ConnectionSettings $TSMA.ConnectionSettings"
            ),
            vec![
                Tok::Word("New-MigrationEndpoint".into()),
                Tok::Param {
                    name: "Name".into(),
                    colon: false
                },
                Tok::Word("Cutover".into()),
                Tok::Param {
                    name: "ConnectionSettings".into(),
                    colon: false
                },
                Tok::Var("TSMA".into()),
                Tok::Dot,
                Tok::Word("ConnectionSettings".into()),
                Tok::Eof,
            ]
        );
        // A dot inside a bare word is part of it.
        assert_eq!(
            toks("x 127.0.0.1 -Port 143 -Confirm:$false"),
            vec![
                Tok::Word("x".into()),
                Tok::Word("127.0.0.1".into()),
                Tok::Param {
                    name: "Port".into(),
                    colon: false
                },
                Tok::Number(143),
                Tok::Param {
                    name: "Confirm".into(),
                    colon: true
                },
                Tok::Var("false".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn strings_comments_and_continuations() {
        assert_eq!(
            toks("'it''s' \"a `\"b`\" $x!\" # comment\n<# block\n comment #> `\n y"),
            vec![
                Tok::Str("it's".into()),
                Tok::ExpStr(vec![
                    StrPart::Lit("a \"b\" ".into()),
                    StrPart::Var("x".into()),
                    StrPart::Lit("!".into()),
                ]),
                Tok::Newline,
                Tok::Word("y".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn static_calls_and_env_variables() {
        assert_eq!(
            toks("[System.IO.File]::ReadAllBytes($env:CSV)"),
            vec![
                Tok::Type("System.IO.File".into()),
                Tok::ColonColon,
                Tok::Word("ReadAllBytes".into()),
                Tok::LParen,
                Tok::Var("env:CSV".into()),
                Tok::RParen,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn an_unterminated_string_says_where_it_started() {
        let e = tokenize("Get-MigrationBatch\n  -Identity 'Cutover").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 13 });
        assert!(e.incomplete);
        assert!(e.message.contains("terminator"), "{e}");
        let e = tokenize("x \"abc").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 3));
        let e = tokenize("Get-MigrationBatch > $null").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 20));
        assert!(e.message.contains("Out-Null"), "{e}");
        let e = tokenize("x $ y").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 3));
        assert!(!e.incomplete);
    }
}
