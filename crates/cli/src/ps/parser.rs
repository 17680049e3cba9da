//! The grammar of the PowerShell subset, as an AST.
//!
//! ```text
//! script     = sep* [statement (sep+ statement)*] sep* EOF        sep = newline | ';'
//! statement  = $var '=' pipeline | pipeline
//! pipeline   = element ('|' newline* element)*
//! element    = command | expression
//! command    = WORD (param | argument)*          (command mode: bare words are strings)
//! param      = -Name | -Name: primary
//! argument   = primary (',' primary)*
//! expression = and ('-or' and)*
//! and        = compare ('-and' compare)*
//! compare    = unary [('-eq'|'-ne'|'-gt'|'-ge'|'-lt'|'-le'|'-like'|'-notlike'|'-match'|'-notmatch') unary]
//! unary      = '-not' unary | list
//! list       = primary (',' primary)*
//! primary    = STRING | NUMBER | $var | '(' pipeline ')' | '@(' script ')' | '{' script '}'
//!            | [Type]::Method '(' [expression (',' expression)*] ')'       then ('.' Member)*
//! ```
//!
//! A statement that starts with a word is a command (PowerShell's command mode);
//! anything else is an expression. Which parameter takes a value is known only to the
//! cmdlet, so a command keeps its arguments in order and the binder pairs them.

use std::rc::Rc;

use super::lexer::{ParseError, Pos, StrPart, Tok, Token, tokenize};

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Assign {
        var: String,
        value: Pipeline,
        pos: Pos,
    },
    Pipeline(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub elements: Vec<Element>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Command(Command),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub pos: Pos,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `-Name`, with its value when written `-Name:value`.
    Param {
        name: String,
        value: Option<Expr>,
        pos: Pos,
    },
    Value(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    Match,
    NotMatch,
    And,
    Or,
}

impl BinOp {
    fn comparison(name: &str) -> Option<BinOp> {
        Some(match name.to_ascii_lowercase().as_str() {
            "eq" | "ieq" | "ceq" => BinOp::Eq,
            "ne" | "ine" | "cne" => BinOp::Ne,
            "gt" => BinOp::Gt,
            "ge" => BinOp::Ge,
            "lt" => BinOp::Lt,
            "le" => BinOp::Le,
            "like" | "ilike" => BinOp::Like,
            "notlike" => BinOp::NotLike,
            "match" | "imatch" => BinOp::Match,
            "notmatch" => BinOp::NotMatch,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A quoted string, or a bare word in command mode.
    Str(String),
    Expandable(Vec<StrPart>),
    Number(i64),
    Var(String, Pos),
    Member(Box<Expr>, String, Pos),
    Array(Vec<Expr>),
    /// `( pipeline )`
    Paren(Box<Pipeline>),
    /// `@( statements )`
    SubArray(Vec<Statement>),
    Block(Rc<Block>),
    Binary(BinOp, Box<Expr>, Box<Expr>, Pos),
    Not(Box<Expr>),
    StaticCall {
        type_name: String,
        method: String,
        args: Vec<Expr>,
        pos: Pos,
    },
}

/// A script block `{ ... }`: its statements and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub statements: Vec<Statement>,
    pub text: String,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

fn err(pos: Pos, message: impl Into<String>) -> ParseError {
    ParseError {
        pos,
        message: message.into(),
        incomplete: false,
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.toks[(self.i + ahead).min(self.toks.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn skip_newlines(&mut self) {
        while self.peek().tok == Tok::Newline {
            self.i += 1;
        }
    }

    fn unexpected(&self) -> ParseError {
        let t = self.peek();
        ParseError {
            pos: t.pos,
            message: match &t.tok {
                Tok::Eof => "Unexpected end of input.".to_string(),
                tok => format!(
                    "Unexpected token '{}' in expression or statement.",
                    tok.describe()
                ),
            },
            incomplete: t.tok == Tok::Eof,
        }
    }

    /// Statements up to `end` (EOF, or the `)` / `}` that closes a group).
    fn statements(&mut self, end: &Tok) -> Result<Vec<Statement>, ParseError> {
        let mut out = Vec::new();
        loop {
            while matches!(self.peek().tok, Tok::Newline | Tok::Semi) {
                self.i += 1;
            }
            if &self.peek().tok == end {
                return Ok(out);
            }
            if self.peek().tok == Tok::Eof {
                return Err(self.unexpected());
            }
            out.push(self.statement()?);
            match &self.peek().tok {
                Tok::Newline | Tok::Semi => {}
                t if t == end => {}
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        if let (Tok::Var(name), Tok::Assign) = (&self.peek().tok, self.peek_at(1)) {
            let var = name.clone();
            let pos = self.next().pos;
            self.next();
            self.skip_newlines();
            if matches!(self.peek().tok, Tok::Eof) {
                return Err(ParseError {
                    pos: self.peek().pos,
                    message: "You must provide a value expression following the '=' operator."
                        .into(),
                    incomplete: true,
                });
            }
            return Ok(Statement::Assign {
                var,
                value: self.pipeline()?,
                pos,
            });
        }
        Ok(Statement::Pipeline(self.pipeline()?))
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let pos = self.peek().pos;
        let mut elements = vec![self.element()?];
        while self.peek().tok == Tok::Pipe {
            let bar = self.next().pos;
            self.skip_newlines();
            if matches!(
                self.peek().tok,
                Tok::Eof | Tok::RParen | Tok::RBrace | Tok::Semi | Tok::Pipe
            ) {
                return Err(ParseError {
                    pos: bar,
                    message: "An empty pipe element is not allowed.".into(),
                    incomplete: self.peek().tok == Tok::Eof,
                });
            }
            let e = self.element()?;
            if matches!(e, Element::Expr(_)) {
                return Err(err(
                    bar,
                    "Expressions are only allowed as the first element of a pipeline.",
                ));
            }
            elements.push(e);
        }
        Ok(Pipeline { elements, pos })
    }

    fn element(&mut self) -> Result<Element, ParseError> {
        match &self.peek().tok {
            Tok::Word(_) => Ok(Element::Command(self.command()?)),
            _ => Ok(Element::Expr(self.expression()?)),
        }
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let t = self.next();
        let Tok::Word(name) = t.tok else {
            unreachable!("a command starts with a word")
        };
        let mut args = Vec::new();
        loop {
            match &self.peek().tok {
                Tok::Newline | Tok::Semi | Tok::Pipe | Tok::RParen | Tok::RBrace | Tok::Eof => {
                    break;
                }
                Tok::Param { name, colon } => {
                    let (name, colon) = (name.clone(), *colon);
                    let pos = self.next().pos;
                    let value = if colon {
                        if matches!(
                            self.peek().tok,
                            Tok::Newline | Tok::Semi | Tok::Pipe | Tok::Eof
                        ) {
                            return Err(err(pos, format!("Missing an argument after '-{name}:'.")));
                        }
                        Some(self.primary(true)?)
                    } else {
                        None
                    };
                    args.push(Arg::Param { name, value, pos });
                }
                _ => args.push(Arg::Value(self.argument()?)),
            }
        }
        Ok(Command {
            name,
            pos: t.pos,
            args,
        })
    }

    /// A command argument: one value, or several separated by commas.
    fn argument(&mut self) -> Result<Expr, ParseError> {
        let first = self.primary(true)?;
        if self.peek().tok != Tok::Comma {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek().tok == Tok::Comma {
            self.next();
            self.skip_newlines();
            items.push(self.primary(true)?);
        }
        Ok(Expr::Array(items))
    }

    fn expression(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while let Tok::Param { name, .. } = &self.peek().tok {
            if !name.eq_ignore_ascii_case("or") {
                break;
            }
            let pos = self.next().pos;
            self.skip_newlines();
            let right = self.and()?;
            left = Expr::Binary(BinOp::Or, Box::new(left), Box::new(right), pos);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.compare()?;
        while let Tok::Param { name, .. } = &self.peek().tok {
            if !name.eq_ignore_ascii_case("and") {
                break;
            }
            let pos = self.next().pos;
            self.skip_newlines();
            let right = self.compare()?;
            left = Expr::Binary(BinOp::And, Box::new(left), Box::new(right), pos);
        }
        Ok(left)
    }

    fn compare(&mut self) -> Result<Expr, ParseError> {
        let left = self.unary()?;
        if let Tok::Param { name, .. } = &self.peek().tok {
            let Some(op) = BinOp::comparison(name) else {
                if name.eq_ignore_ascii_case("and") || name.eq_ignore_ascii_case("or") {
                    return Ok(left);
                }
                return Err(err(
                    self.peek().pos,
                    format!("Unexpected token '-{name}' in expression or statement."),
                ));
            };
            let pos = self.next().pos;
            self.skip_newlines();
            let right = self.unary()?;
            return Ok(Expr::Binary(op, Box::new(left), Box::new(right), pos));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if let Tok::Param { name, .. } = &self.peek().tok
            && name.eq_ignore_ascii_case("not")
        {
            self.next();
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        let first = self.primary(false)?;
        if self.peek().tok != Tok::Comma {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek().tok == Tok::Comma {
            self.next();
            self.skip_newlines();
            items.push(self.primary(false)?);
        }
        Ok(Expr::Array(items))
    }

    /// A value; in command mode a bare word is a string.
    fn primary(&mut self, command_mode: bool) -> Result<Expr, ParseError> {
        let t = self.peek().clone();
        let mut e = match t.tok {
            Tok::Str(s) => {
                self.next();
                Expr::Str(s)
            }
            Tok::ExpStr(parts) => {
                self.next();
                Expr::Expandable(parts)
            }
            Tok::Number(n) => {
                self.next();
                Expr::Number(n)
            }
            Tok::Word(w) if command_mode => {
                self.next();
                Expr::Str(w)
            }
            Tok::Var(v) => {
                self.next();
                Expr::Var(v, t.pos)
            }
            Tok::LParen => {
                self.next();
                self.skip_newlines();
                if self.peek().tok == Tok::RParen {
                    return Err(err(
                        self.peek().pos,
                        "An expression was expected after '('.",
                    ));
                }
                let p = self.pipeline()?;
                self.skip_newlines();
                self.close(&Tok::RParen, t.pos, "Missing closing ')' in expression.")?;
                Expr::Paren(Box::new(p))
            }
            Tok::AtParen => {
                self.next();
                let s = self
                    .statements(&Tok::RParen)
                    .map_err(|e| self.missing(e, t.pos, ')'))?;
                self.next();
                Expr::SubArray(s)
            }
            Tok::LBrace => {
                self.next();
                let start = self.i;
                let statements = self
                    .statements(&Tok::RBrace)
                    .map_err(|e| self.missing(e, t.pos, '}'))?;
                let text = self.text_between(start, self.i);
                self.next();
                Expr::Block(Rc::new(Block { statements, text }))
            }
            Tok::Type(type_name) => {
                self.next();
                if self.peek().tok != Tok::ColonColon {
                    return Err(err(
                        t.pos,
                        format!(
                            "Type literals such as [{type_name}] are only supported in static calls ([{type_name}]::Method(...))."
                        ),
                    ));
                }
                self.next();
                let Tok::Word(method) = self.next().tok else {
                    return Err(err(t.pos, "Missing the method name after '::'."));
                };
                if self.peek().tok != Tok::LParen {
                    return Err(err(
                        self.peek().pos,
                        format!("Missing '(' after the method name '{method}'."),
                    ));
                }
                let open = self.next().pos;
                let mut args = Vec::new();
                self.skip_newlines();
                if self.peek().tok != Tok::RParen {
                    loop {
                        args.push(self.primary(false)?);
                        self.skip_newlines();
                        if self.peek().tok == Tok::Comma {
                            self.next();
                            self.skip_newlines();
                            continue;
                        }
                        break;
                    }
                }
                self.close(
                    &Tok::RParen,
                    open,
                    "Missing closing ')' after the method arguments.",
                )?;
                Expr::StaticCall {
                    type_name,
                    method,
                    args,
                    pos: t.pos,
                }
            }
            _ => return Err(self.unexpected()),
        };
        while self.peek().tok == Tok::Dot {
            let pos = self.next().pos;
            let Tok::Word(member) = self.next().tok else {
                return Err(err(pos, "Missing the property name after '.'."));
            };
            e = Expr::Member(Box::new(e), member, pos);
        }
        Ok(e)
    }

    fn close(&mut self, tok: &Tok, open: Pos, message: &str) -> Result<(), ParseError> {
        if &self.peek().tok == tok {
            self.next();
            return Ok(());
        }
        Err(ParseError {
            pos: open,
            message: message.to_string(),
            incomplete: self.peek().tok == Tok::Eof,
        })
    }

    /// A group that reached the end of input names its opening bracket.
    fn missing(&self, e: ParseError, open: Pos, close: char) -> ParseError {
        if self.peek().tok == Tok::Eof {
            ParseError {
                pos: open,
                message: format!("Missing closing '{close}' in statement block or expression."),
                incomplete: true,
            }
        } else {
            e
        }
    }

    /// The source text of tokens `from..to` (a script block's body).
    fn text_between(&self, from: usize, to: usize) -> String {
        let (Some(a), Some(b)) = (self.toks.get(from), self.toks.get(to)) else {
            return String::new();
        };
        let offset = |p: Pos| -> usize {
            let mut line = 1;
            let mut col = 1;
            for (i, c) in self.src.char_indices() {
                if line == p.line && col == p.col {
                    return i;
                }
                if c == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
            }
            self.src.len()
        };
        self.src[offset(a.pos)..offset(b.pos)].trim().to_string()
    }
}

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Vec<Statement>, ParseError> {
    let toks = tokenize(src)?;
    let mut p = Parser { src, toks, i: 0 };
    let statements = p.statements(&Tok::Eof)?;
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(src: &str) -> Command {
        match parse(src).unwrap().remove(0) {
            Statement::Pipeline(mut p) => match p.elements.remove(0) {
                Element::Command(c) => c,
                e => panic!("not a command: {e:?}"),
            },
            s => panic!("not a pipeline: {s:?}"),
        }
    }

    fn error(src: &str) -> ParseError {
        parse(src).expect_err("should not parse")
    }

    #[test]
    fn a_cmdlet_with_parameters_switches_and_values() {
        let c = command(
            "New-MigrationBatch -Name CutoverBatch -SourceEndpoint 'Cutover Endpoint' -AutoStart -BadItemLimit 5",
        );
        assert_eq!(c.name, "New-MigrationBatch");
        assert_eq!(c.pos, Pos { line: 1, col: 1 });
        let shape: Vec<String> = c
            .args
            .iter()
            .map(|a| match a {
                Arg::Param { name, .. } => format!("-{name}"),
                Arg::Value(Expr::Str(s)) => s.clone(),
                Arg::Value(Expr::Number(n)) => n.to_string(),
                Arg::Value(e) => format!("{e:?}"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "-Name",
                "CutoverBatch",
                "-SourceEndpoint",
                "Cutover Endpoint",
                "-AutoStart",
                "-BadItemLimit",
                "5"
            ]
        );
    }

    #[test]
    fn assignment_member_access_and_colon_values() {
        let s = parse("$TSMA = Test-MigrationServerAvailability -IMAP\nNew-MigrationEndpoint -ConnectionSettings $TSMA.ConnectionSettings -Confirm:$false").unwrap();
        assert_eq!(s.len(), 2);
        let Statement::Assign { var, value, pos } = &s[0] else {
            panic!("{s:?}")
        };
        assert_eq!((var.as_str(), *pos), ("TSMA", Pos { line: 1, col: 1 }));
        assert!(
            matches!(&value.elements[0], Element::Command(c) if c.name == "Test-MigrationServerAvailability")
        );
        let Statement::Pipeline(p) = &s[1] else {
            panic!()
        };
        let Element::Command(c) = &p.elements[0] else {
            panic!()
        };
        assert_eq!(
            c.args[1],
            Arg::Value(Expr::Member(
                Box::new(Expr::Var("TSMA".into(), Pos { line: 2, col: 43 })),
                "ConnectionSettings".into(),
                Pos { line: 2, col: 48 }
            ))
        );
        assert!(
            matches!(&c.args[2], Arg::Param { name, value: Some(Expr::Var(v, _)), .. } if name == "Confirm" && v == "false")
        );
    }

    #[test]
    fn pipelines_into_formatters_with_wildcard_lists() {
        let s = parse("Get-MigrationEndpoint CutoverEndpoint |\n  Format-List EndpointType,ExchangeServer,UseAutoDiscover,Max*").unwrap();
        let Statement::Pipeline(p) = &s[0] else {
            panic!()
        };
        assert_eq!(p.elements.len(), 2);
        let Element::Command(f) = &p.elements[1] else {
            panic!()
        };
        assert_eq!(f.pos, Pos { line: 2, col: 3 });
        let Arg::Value(Expr::Array(items)) = &f.args[0] else {
            panic!("{f:?}")
        };
        assert_eq!(items.len(), 4);
        assert_eq!(items[3], Expr::Str("Max*".into()));
    }

    #[test]
    fn where_object_blocks_hold_expressions() {
        let c = command(
            "Get-MigrationUser | Where-Object {$_.Status -eq 'Failed' -and -not $_.ErrorSummary -like '*x*'}",
        );
        assert_eq!(c.name, "Get-MigrationUser");
        let s = parse(
            "Get-MigrationUser | Where-Object { $_.Status -eq 'Failed' -or $_.ItemsSkipped -gt 0 }",
        )
        .unwrap();
        let Statement::Pipeline(p) = &s[0] else {
            panic!()
        };
        let Element::Command(w) = &p.elements[1] else {
            panic!()
        };
        let Arg::Value(Expr::Block(b)) = &w.args[0] else {
            panic!()
        };
        assert_eq!(b.text, "$_.Status -eq 'Failed' -or $_.ItemsSkipped -gt 0");
        let Statement::Pipeline(inner) = &b.statements[0] else {
            panic!()
        };
        assert!(matches!(
            &inner.elements[0],
            Element::Expr(Expr::Binary(BinOp::Or, l, _, _)) if matches!(**l, Expr::Binary(BinOp::Eq, _, _, _))
        ));
    }

    #[test]
    fn static_calls_subexpressions_and_comments() {
        let s = parse("# step 3\nNew-MigrationBatch -CSVData ([System.IO.File]::ReadAllBytes(\"C:\\users.csv\")) ; <# done #>\n$x = @(Get-MigrationUser)").unwrap();
        assert_eq!(s.len(), 2);
        let Statement::Pipeline(p) = &s[0] else {
            panic!()
        };
        let Element::Command(c) = &p.elements[0] else {
            panic!()
        };
        assert_eq!(c.pos, Pos { line: 2, col: 1 });
        let Arg::Value(Expr::Paren(inner)) = &c.args[1] else {
            panic!("{c:?}")
        };
        assert!(matches!(
            &inner.elements[0],
            Element::Expr(Expr::StaticCall { type_name, method, args, .. })
                if type_name == "System.IO.File" && method == "ReadAllBytes" && args.len() == 1
        ));
        assert!(
            matches!(&s[1], Statement::Assign { value, .. } if matches!(value.elements[0], Element::Expr(Expr::SubArray(_))))
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = error("Get-MigrationBatch |\n  Where-Object {$_.Status -eq 'Failed'\n");
        assert_eq!(e.pos, Pos { line: 2, col: 16 });
        assert!(e.message.contains("Missing closing '}'"), "{e}");
        assert!(e.incomplete);

        let e = error("Get-MigrationBatch | | Format-List");
        assert_eq!(e.pos, Pos { line: 1, col: 20 });
        assert!(e.message.contains("empty pipe element"), "{e}");

        let e = error("$x = (Get-MigrationBatch");
        assert_eq!(e.pos, Pos { line: 1, col: 6 });
        assert!(e.incomplete);

        let e = error("Get-MigrationBatch\n$x -foo 3");
        assert_eq!(e.pos, Pos { line: 2, col: 4 });
        assert!(e.message.contains("Unexpected token '-foo'"), "{e}");

        let e = error("Get-MigrationBatch | $x");
        assert_eq!(e.pos, Pos { line: 1, col: 20 });
        assert!(e.message.contains("first element of a pipeline"), "{e}");

        let e = error("\n\n   $x = ");
        assert_eq!((e.pos.line, e.pos.col), (3, 9));
        assert!(e.message.contains("value expression"), "{e}");

        let e = error("x ) y");
        assert_eq!(e.pos, Pos { line: 1, col: 3 });

        let e = error("Get-Foo -Name:");
        assert_eq!(e.pos, Pos { line: 1, col: 9 });

        let e = error("[System.IO.File]");
        assert!(e.message.contains("static calls"), "{e}");
    }
}
