//! Evaluation errors. Messages are lowercase, name policy items and inputs
//! in backticks, and say where in the policy a script failed.

/// Why an evaluation failed. Nothing is changed by a failed evaluation.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum EvalError {
    #[error("no table, rule set or calc named `{name}`")]
    #[diagnostic(code(wangge::eval::unknown_item))]
    UnknownItem {
        name: String,
        #[help]
        help: Option<String>,
    },

    #[error("the input of `{item}` must be a JSON object keyed by parameter name")]
    #[diagnostic(code(wangge::eval::input), help("for example `{example}`"))]
    InputNotObject { item: String, example: String },

    #[error("missing input `{param}` for `{item}`")]
    #[diagnostic(code(wangge::eval::input))]
    MissingInput { item: String, param: String },

    #[error("unknown input `{key}` for `{item}`")]
    #[diagnostic(code(wangge::eval::input))]
    UnknownInput {
        item: String,
        key: String,
        #[help]
        help: Option<String>,
    },

    #[error("input `{field}` of `{item}` does not fit its schema: {message}")]
    #[diagnostic(code(wangge::eval::schema))]
    InvalidInput {
        item: String,
        /// The parameter and the field, dotted (`事件.类别`).
        field: String,
        message: String,
    },

    #[error("rows {rows} of `{table}` all match, which hit policy `{policy}` forbids")]
    #[diagnostic(code(wangge::eval::hit_policy), help("{detail}"))]
    HitPolicy {
        table: String,
        policy: &'static str,
        rows: String,
        detail: String,
    },

    #[error("`{item}` failed at {location}: {message}")]
    #[diagnostic(code(wangge::eval::script))]
    Script {
        item: String,
        location: String,
        message: String,
    },

    #[error("`{item}` was stopped at {location}: {limit}")]
    #[diagnostic(
        code(wangge::eval::limit),
        help("scripts are bounded in time, operations, call depth and data size")
    )]
    Limit {
        item: String,
        location: String,
        limit: String,
    },

    #[error("`{item}` returned {found}, expected {expected}")]
    #[diagnostic(code(wangge::eval::result_type))]
    ResultType {
        item: String,
        expected: String,
        found: String,
    },
}
