//! Field expressions of processing steps: `state == 'open' and comments > 0`,
//! `user.login`, `labels contains 'bug'`, `not (draft == true)`.
//!
//! Grammar: `or := and ("or" and)*`, `and := not ("and" not)*`, `not := "not" not | cmp`,
//! `cmp := atom (("=="|"!="|"<"|"<="|">"|">="|"contains") atom)?`,
//! `atom := 'text' | "text" | number | true | false | null | field.path[0] | "(" or ")"`.
//! A missing field is null. Numbers compare as numbers, text as text; `contains` is substring
//! on text and membership on lists.

use serde_json::Value;

use crate::jsonpath::JsonPath;

#[derive(Clone, Debug)]
pub enum Expr {
    Lit(Value),
    Field(JsonPath),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Box<Expr>, Op, Box<Expr>),
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Str(String),
    Num(serde_json::Number),
    Word(String),
    Op(&'static str),
    Open,
    Close,
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::Open);
            i += 1;
        } else if c == ')' {
            out.push(Tok::Close);
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = text[i + 1..]
                .find(c)
                .ok_or_else(|| format!("unterminated text starting at column {}", i + 1))?;
            out.push(Tok::Str(text[i + 1..i + 1 + end].to_owned()));
            i += end + 2;
        } else if let Some(op) = ["==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| text[i..].starts_with(op))
        {
            out.push(Tok::Op(op));
            i += op.len();
        } else if c.is_ascii_digit() || (c == '-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let end = text[i + 1..]
                .find(|ch: char| !(ch.is_ascii_digit() || ".eE+-".contains(ch)))
                .map_or(text.len(), |e| i + 1 + e);
            let n: serde_json::Number = text[i..end]
                .parse()
                .map_err(|_| format!("`{}` is not a number", &text[i..end]))?;
            out.push(Tok::Num(n));
            i = end;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let end = text[i..]
                .find(|ch: char| !(ch.is_alphanumeric() || "_.$[]*".contains(ch)))
                .map_or(text.len(), |e| i + e);
            out.push(Tok::Word(text[i..end].to_owned()));
            i = end;
        } else {
            return Err(format!("unexpected `{c}` at column {}", i + 1));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.word("or") {
            self.at += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.word("and") {
            self.at += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.word("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.atom()?;
        let op = match self.peek() {
            Some(Tok::Op(o)) => match *o {
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some(Tok::Word(w)) if w == "contains" => Op::Contains,
            _ => return Ok(left),
        };
        self.at += 1;
        let right = self.atom()?;
        Ok(Expr::Cmp(Box::new(left), op, Box::new(right)))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let tok = self
            .toks
            .get(self.at)
            .cloned()
            .ok_or("the expression ends too early")?;
        self.at += 1;
        Ok(match tok {
            Tok::Str(s) => Expr::Lit(Value::String(s)),
            Tok::Num(n) => Expr::Lit(Value::Number(n)),
            Tok::Word(w) => match w.as_str() {
                "true" => Expr::Lit(Value::Bool(true)),
                "false" => Expr::Lit(Value::Bool(false)),
                "null" => Expr::Lit(Value::Null),
                "and" | "or" | "not" | "contains" => {
                    return Err(format!("`{w}` where a value was expected"));
                }
                _ => Expr::Field(JsonPath::parse(&w)?),
            },
            Tok::Open => {
                let e = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err("`(` without `)`".into());
                }
                self.at += 1;
                e
            }
            Tok::Close => return Err("`)` without `(`".into()),
            Tok::Op(o) => return Err(format!("`{o}` where a value was expected")),
        })
    }
}

impl Expr {
    /// Parse an expression; the error says where it goes wrong.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser {
            toks: lex(text)?,
            at: 0,
        };
        let e = p.or()?;
        if p.at < p.toks.len() {
            return Err(format!(
                "unexpected `{:?}` after a complete expression",
                p.toks[p.at]
            ));
        }
        Ok(e)
    }

    /// The value of the expression for `record`.
    pub fn eval(&self, record: &Value) -> Value {
        match self {
            Expr::Lit(v) => v.clone(),
            Expr::Field(p) => p.first(record).cloned().unwrap_or(Value::Null),
            Expr::Not(e) => Value::Bool(!truthy(&e.eval(record))),
            Expr::And(a, b) => Value::Bool(truthy(&a.eval(record)) && truthy(&b.eval(record))),
            Expr::Or(a, b) => Value::Bool(truthy(&a.eval(record)) || truthy(&b.eval(record))),
            Expr::Cmp(a, op, b) => Value::Bool(compare(&a.eval(record), *op, &b.eval(record))),
        }
    }

    /// Whether the expression holds for `record`.
    pub fn holds(&self, record: &Value) -> bool {
        truthy(&self.eval(record))
    }
}

/// null, false, 0, "", [] and {} are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn compare(a: &Value, op: Op, b: &Value) -> bool {
    use std::cmp::Ordering;
    if let Op::Contains = op {
        return match (a, b) {
            (Value::String(s), Value::String(t)) => s.contains(t.as_str()),
            (Value::Array(items), x) => items.iter().any(|i| compare(i, Op::Eq, x)),
            _ => false,
        };
    }
    let ord = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, o) => o == Some(Ordering::Equal) || (o.is_none() && a == b),
        (Op::Ne, o) => !(o == Some(Ordering::Equal) || (o.is_none() && a == b)),
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        _ => false,
    }
}
