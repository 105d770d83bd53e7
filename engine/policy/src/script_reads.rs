//! What a compiled snippet reads from its parameters: each `参数.字段…`
//! chain, found in the rhai AST. A calc's explanation shows these values
//! (as a table's shows its columns) instead of copying whole input
//! objects; a parameter used any other way (passed on, indexed by a
//! computed key, iterated) is shown whole.

use std::sync::Arc;

use rhai::{ASTNode, Expr, AST};
use serde_json::Value;

/// One value a snippet reads: a parameter, or a field path below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Which parameter (0 for the first).
    pub param: usize,
    /// The field path below it (empty: the whole parameter).
    pub path: Vec<String>,
    /// As written: `事件.人数`, or `事件`.
    pub shown: Arc<str>,
}

impl Read {
    /// The value it reads in `args` (`null` where the input has no such field).
    pub fn value(&self, args: &[&Value]) -> Value {
        let mut v = args.get(self.param).copied();
        for key in &self.path {
            v = v.and_then(|v| field(v, key));
        }
        v.cloned().unwrap_or(Value::Null)
    }
}

/// `v[key]`; a small object is searched in order rather than hashed (this
/// runs on every calc evaluation, and reports have a handful of fields).
fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match v {
        Value::Object(m) if m.len() <= 12 => m.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
        Value::Object(m) => m.get(key),
        _ => None,
    }
}

/// The reads of `ast` from `params`, in source order, without repeats. A
/// parameter read whole replaces its field reads.
pub fn reads(ast: &AST, params: &[&str]) -> Vec<Read> {
    let mut found: Vec<Read> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let Some((ASTNode::Expr(node @ Expr::Variable(v, ..)), parents)) = path.split_last() else {
            return true;
        };
        let Some(param) = params.iter().position(|p| *p == v.1.as_str()) else {
            return true;
        };
        let fields = match parents.last() {
            Some(ASTNode::Expr(Expr::Dot(x, ..))) if std::ptr::eq(&x.lhs, *node) => chain(&x.rhs),
            Some(ASTNode::Expr(Expr::Index(x, ..))) if std::ptr::eq(&x.lhs, *node) => {
                literal_key(&x.rhs).into_iter().collect()
            }
            _ => Vec::new(),
        };
        add(&mut found, param, fields, params[param]);
        true
    });
    found
}

/// The property names at the start of a `.a.b…` chain.
fn chain(mut e: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match e {
            Expr::Property(p, _) => {
                out.push(p.2.to_string());
                return out;
            }
            Expr::Dot(x, ..) => match &x.lhs {
                Expr::Property(p, _) => {
                    out.push(p.2.to_string());
                    e = &x.rhs;
                }
                _ => return out,
            },
            Expr::Index(x, ..) => {
                if let Expr::Property(p, _) = &x.lhs {
                    out.push(p.2.to_string());
                }
                return out;
            }
            _ => return out,
        }
    }
}

fn literal_key(e: &Expr) -> Option<String> {
    match e {
        Expr::StringConstant(s, _) => Some(s.to_string()),
        _ => None,
    }
}

fn add(found: &mut Vec<Read>, param: usize, path: Vec<String>, name: &str) {
    let covered = |r: &Read| r.param == param && (r.path.is_empty() || r.path == path);
    if found.iter().any(covered) {
        return;
    }
    if path.is_empty() {
        found.retain(|r| r.param != param);
    }
    let mut shown = name.to_string();
    for p in &path {
        shown.push('.');
        shown.push_str(p);
    }
    found.push(Read {
        param,
        path,
        shown: Arc::from(shown),
    });
}

/// Every `参数.字段.…` chain in `ast` on a parameter, each property with
/// its position (for diagnostics): `(param, [(field, position)])`.
pub fn field_chains(ast: &AST, params: &[&str]) -> Vec<(usize, Vec<(String, rhai::Position)>)> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let Some((ASTNode::Expr(node @ Expr::Variable(v, ..)), parents)) = path.split_last() else {
            return true;
        };
        let Some(param) = params.iter().position(|p| *p == v.1.as_str()) else {
            return true;
        };
        if let Some(ASTNode::Expr(Expr::Dot(x, ..))) = parents.last() {
            if std::ptr::eq(&x.lhs, *node) {
                found.push((param, chain_at(&x.rhs)));
            }
        }
        true
    });
    found
}

/// [`chain`], with each property's position.
fn chain_at(mut e: &Expr) -> Vec<(String, rhai::Position)> {
    let mut out = Vec::new();
    loop {
        match e {
            Expr::Property(p, pos) => {
                out.push((p.2.to_string(), *pos));
                return out;
            }
            Expr::Dot(x, ..) => match &x.lhs {
                Expr::Property(p, pos) => {
                    out.push((p.2.to_string(), *pos));
                    e = &x.rhs;
                }
                _ => return out,
            },
            Expr::Index(x, ..) => {
                if let Expr::Property(p, pos) = &x.lhs {
                    out.push((p.2.to_string(), *pos));
                }
                return out;
            }
            _ => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reads_of(code: &str, params: &[&str]) -> Vec<String> {
        let engine = rhai::Engine::new();
        let mut scope = rhai::Scope::new();
        for p in params {
            scope.push_dynamic(*p, rhai::Dynamic::UNIT);
        }
        let ast = engine
            .compile_with_scope(&scope, code)
            .expect("test snippet compiles");
        reads(&ast, params)
            .iter()
            .map(|r| r.shown.to_string())
            .collect()
    }

    #[test]
    fn a_calc_reads_the_fields_it_names_in_order() {
        assert_eq!(
            reads_of(
                r#"事件.人数 >= 3 && 事件.类别 == "物业纠纷" && 事件.人数 < 10 && 天数 > 1"#,
                &["事件", "天数"]
            ),
            ["事件.人数", "事件.类别", "天数"]
        );
    }

    #[test]
    fn nested_fields_and_literal_keys_are_paths() {
        assert_eq!(
            reads_of(r#"a.b.c + a["d"] + a.e[0]"#, &["a"]),
            ["a.b.c", "a.d", "a.e"]
        );
    }

    #[test]
    fn a_parameter_used_whole_is_shown_whole() {
        assert_eq!(reads_of("let x = a; a.b + x.c", &["a"]), ["a"]);
        assert_eq!(reads_of("a.b + a.len()", &["a"]), ["a"]);
    }

    #[test]
    fn a_missing_field_reads_as_null() {
        let engine = rhai::Engine::new();
        let mut scope = rhai::Scope::new();
        scope.push_dynamic("a", rhai::Dynamic::UNIT);
        let ast = engine
            .compile_with_scope(&scope, "a.b.c")
            .expect("compiles");
        let r = &reads(&ast, &["a"])[0];
        assert_eq!(r.value(&[&json!({"b": {"c": 2}})]), json!(2));
        assert_eq!(r.value(&[&json!({"b": 1})]), Value::Null);
    }
}
