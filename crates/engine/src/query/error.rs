//! Why a query is refused when a run starts: every message names the query, where in its text
//! the problem is (line and column, from the parser's spans) and the construct.

use thiserror::Error;

/// A place in a query's text (1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct At {
    /// Line.
    pub line: u64,
    /// Column.
    pub column: u64,
}

impl At {
    /// Where a node of the syntax tree starts (`None` when the parser kept no span for it).
    pub fn of(node: &impl sqlparser::ast::Spanned) -> Option<At> {
        let start = node.span().start;
        (start.line > 0).then_some(At { line: start.line, column: start.column })
    }
}

/// Why a query cannot run.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    /// Not SQL the parser understands (its message says where).
    #[error("query {query}: {message}")]
    Syntax {
        /// The query's name.
        query: String,
        /// The parser's message, with its line and column.
        message: String,
    },
    /// SQL, but not in the subset queries support.
    #[error("query {query}: line {}, column {}: {construct} is not supported{hint}", at.line, at.column)]
    Unsupported {
        /// The query's name.
        query: String,
        /// Where.
        at: At,
        /// What was found.
        construct: String,
        /// What to do instead, if there is something (starts with "; ").
        hint: String,
    },
    /// In the subset, but wrong (a bare column not grouped, an unknown name, a bad interval).
    #[error("query {query}: line {}, column {}: {problem}", at.line, at.column)]
    Invalid {
        /// The query's name.
        query: String,
        /// Where.
        at: At,
        /// What is wrong.
        problem: String,
    },
    /// A query's name that cannot name a query (outputs, tables and metrics carry it).
    #[error("query name {name:?}: use letters, digits and underscores, starting with a letter")]
    Name {
        /// The name given.
        name: String,
    },
    /// Two queries of a run with one name.
    #[error("two queries are named {name}")]
    DuplicateName {
        /// The name.
        name: String,
    },
}

/// A refusal before the query's name is attached ([`Problem::named`] attaches it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    Unsupported { at: At, construct: String, hint: String },
    Invalid { at: At, problem: String },
}

impl Problem {
    pub(crate) fn unsupported(at: At, construct: impl Into<String>) -> Problem {
        Problem::Unsupported { at, construct: construct.into(), hint: String::new() }
    }

    pub(crate) fn unsupported_hint(at: At, construct: impl Into<String>, hint: &str) -> Problem {
        Problem::Unsupported { at, construct: construct.into(), hint: format!("; {hint}") }
    }

    pub(crate) fn invalid(at: At, problem: impl Into<String>) -> Problem {
        Problem::Invalid { at, problem: problem.into() }
    }

    pub(crate) fn named(self, query: &str) -> QueryError {
        let query = query.to_owned();
        match self {
            Problem::Unsupported { at, construct, hint } => {
                QueryError::Unsupported { query, at, construct, hint }
            }
            Problem::Invalid { at, problem } => QueryError::Invalid { query, at, problem },
        }
    }
}
