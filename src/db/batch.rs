//! Statements sent together: one call into SQLite's connection thread, one after another
//! elsewhere.
//!
//! sqlx runs every SQLite connection on a thread of its own, and each statement is a hop
//! there and back: a futex wake-up and a thread switch each way, on a loaded machine
//! often longer than the statement. Inside a write transaction those hops are spent
//! holding the file's one writer lock, so every checkout waits for all the hops of those
//! before it (README, Benchmarks: the sixth profile). A [`Batch`] collects statements
//! whose parameters are known up front and runs them as one multi-statement query on
//! SQLite (sqlx binds each statement's `?` in turn), one by one on PostgreSQL (whose
//! extended protocol takes one statement per query); either way the caller gets each
//! statement's rows back separately and decides after all of them ran, rolling its
//! transaction back when one found what it must not.
//!
//! Every statement yields rows: a `SELECT` its rows, an `INSERT` or `UPDATE` the rows it
//! wrote (`RETURNING`), so "nothing written" is "no rows". On SQLite each row carries the
//! statement's place in the batch ([`PART`]), which is how the rows of one query are
//! told apart.

use sea_orm::sea_query::{Expr, InsertStatement, Query, SelectStatement, UpdateStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, QueryResult, Statement};

/// The column naming a row's statement on SQLite.
const PART: &str = "batch_part";

/// Statements to run together, in order (see the module).
#[derive(Debug)]
pub struct Batch {
    backend: DbBackend,
    statements: Vec<Statement>,
}

/// A statement's place in its [`Batch`], to take its rows from the [`Rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part(usize);

impl Batch {
    /// An empty batch for `backend`.
    pub fn new(backend: DbBackend) -> Self {
        Batch { backend, statements: vec![] }
    }

    /// Statements so far.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    fn tagged(&self) -> bool {
        self.backend == DbBackend::Sqlite
    }

    fn next(&self) -> Part {
        Part(self.statements.len())
    }

    /// Adds a `SELECT`; its rows are the statement's. Not a `UNION` (on SQLite the tag
    /// would name only its first part's rows).
    pub fn select(&mut self, mut select: SelectStatement) -> Part {
        let part = self.next();
        if self.tagged() {
            select.expr_as(Expr::cust(part.0.to_string()), PART);
        }
        self.statements.push(self.backend.build(&select));
        part
    }

    /// Adds an `UPDATE`; its rows are the rows it changed, every column.
    pub fn update(&mut self, mut update: UpdateStatement) -> Part {
        let part = self.next();
        update.returning(Query::returning().expr(self.returning(part)));
        self.statements.push(self.backend.build(&update));
        part
    }

    /// Adds an `INSERT`; its rows are the rows it inserted, every column.
    pub fn insert(&mut self, mut insert: InsertStatement) -> Part {
        let part = self.next();
        insert.returning(Query::returning().expr(self.returning(part)));
        self.statements.push(self.backend.build(&insert));
        part
    }

    fn returning(&self, part: Part) -> Expr {
        if self.tagged() { Expr::cust(format!("{} AS {PART}, *", part.0)) } else { Expr::cust("*") }
    }

    /// Runs the statements so far ([`Batch::run`]) and leaves the batch empty for more:
    /// a transaction sent in two.
    pub async fn run_now(&mut self, db: &impl ConnectionTrait) -> Result<Rows, DbErr> {
        std::mem::replace(self, Batch::new(self.backend)).run(db).await
    }

    /// Runs the statements in order on `db` (a transaction, usually). On an error the
    /// statements after the failing one did not run.
    pub async fn run(self, db: &impl ConnectionTrait) -> Result<Rows, DbErr> {
        let mut parts: Vec<Vec<QueryResult>> = (0..self.statements.len()).map(|_| vec![]).collect();
        if self.statements.is_empty() {
            return Ok(Rows(parts));
        }
        if !self.tagged() {
            for (statement, rows) in self.statements.into_iter().zip(parts.iter_mut()) {
                *rows = db.query_all_raw(statement).await?;
            }
            return Ok(Rows(parts));
        }
        let mut sql = String::new();
        let mut values = vec![];
        for statement in self.statements {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&statement.sql);
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        for row in db.query_all_raw(Statement::from_sql_and_values(self.backend, sql, values)).await? {
            let part: i64 = row.try_get("", PART)?;
            let rows = usize::try_from(part)
                .ok()
                .and_then(|i| parts.get_mut(i))
                .ok_or_else(|| DbErr::Custom(format!("a batch's row names statement {part}, which it has not")))?;
            rows.push(row);
        }
        Ok(Rows(parts))
    }
}

/// Each statement's rows, from [`Batch::run`].
#[derive(Debug)]
pub struct Rows(Vec<Vec<QueryResult>>);

impl Rows {
    /// The rows of `part`.
    pub fn of(&self, part: Part) -> &[QueryResult] {
        &self.0[part.0]
    }

    /// Whether `part` yielded a row (wrote one, for an `INSERT` or `UPDATE`).
    pub fn any(&self, part: Part) -> bool {
        !self.of(part).is_empty()
    }

    /// The rows of `part` as models, their columns unprefixed.
    pub fn models<M: FromQueryResult>(&self, part: Part) -> Result<Vec<M>, DbErr> {
        self.of(part).iter().map(|row| M::from_query_result(row, "")).collect()
    }

    /// The integer `column` of the first row of `part` (a `COUNT`); 0 when it has none.
    pub fn count(&self, part: Part, column: &str) -> Result<i64, DbErr> {
        self.of(part).first().map_or(Ok(0), |row| row.try_get("", column))
    }

    /// The first row of `part` as a model.
    pub fn first<M: FromQueryResult>(&self, part: Part) -> Result<Option<M>, DbErr> {
        self.of(part).first().map(|row| M::from_query_result(row, "")).transpose()
    }
}
