//! The `sql` import: the connector names a database grant, reflects its granted tables and
//! starts structured reads; `sluice-sql` checks, renders and runs them. Each read's chunks
//! come back as Arrow IPC streams through a `rows` resource the instance owns.

use wasmtime::component::Resource;

use crate::State;
use crate::bindings::sluice::connector::sql;

impl sql::Host for State {
    async fn databases(&mut self) -> Vec<String> {
        self.databases.names()
    }

    async fn tables(&mut self, database: String) -> Result<Vec<sql::TableInfo>, sql::SqlError> {
        let tables = self.databases.tables(&database).await.map_err(wit_error)?;
        Ok(tables.into_iter().map(table_info).collect())
    }

    async fn read(
        &mut self,
        request: sql::ReadRequest,
    ) -> Result<Resource<sluice_sql::Rows>, sql::SqlError> {
        let request = read_request(request)?;
        let rows = self.databases.read(request).await.map_err(wit_error)?;
        self.table
            .push(rows)
            .map_err(|e| sql::SqlError::Database(format!("too many open reads: {e}")))
    }
}

impl sql::HostRows for State {
    async fn next(
        &mut self,
        rows: Resource<sluice_sql::Rows>,
    ) -> Result<Option<Vec<u8>>, sql::SqlError> {
        let rows = self
            .table
            .get_mut(&rows)
            .map_err(|e| sql::SqlError::Database(format!("no such read: {e}")))?;
        rows.next().await.map_err(wit_error)
    }

    async fn drop(&mut self, rows: Resource<sluice_sql::Rows>) -> wasmtime::Result<()> {
        self.table.delete(rows)?;
        Ok(())
    }
}

fn wit_error(e: sluice_sql::SqlError) -> sql::SqlError {
    use sluice_sql::SqlError as E;
    match e {
        E::Denied(m) => sql::SqlError::Denied(m),
        E::NotFound(m) => sql::SqlError::NotFound(m),
        E::Unsupported(m) => sql::SqlError::Unsupported(m),
        E::Timeout(m) => sql::SqlError::Timeout(m),
        E::Database(m) => sql::SqlError::Database(m),
    }
}

fn table_info(t: sluice_sql::TableInfo) -> sql::TableInfo {
    sql::TableInfo {
        schema: t.schema,
        name: t.name,
        columns: t
            .columns
            .into_iter()
            .map(|c| sql::ColumnInfo {
                name: c.name,
                db_type: c.db_type,
                data_type: c.data_type.to_owned(),
                nullable: c.nullable,
                precision: c.precision,
                scale: c.scale,
                timezone: c.timezone,
            })
            .collect(),
        primary_key: t.primary_key,
        row_estimate: t.row_estimate,
    }
}

/// The guest's request as a typed one; filter values must be JSON.
fn read_request(r: sql::ReadRequest) -> Result<sluice_sql::ReadRequest, sql::SqlError> {
    let filter = r
        .filter
        .into_iter()
        .map(|p| {
            let value = serde_json::from_str(&p.value).map_err(|e| {
                sql::SqlError::Unsupported(format!(
                    "filter on `{}`: the value is not JSON: {e}",
                    p.column
                ))
            })?;
            let op = match p.op {
                sql::Comparison::Gt => sluice_sql::Op::Gt,
                sql::Comparison::Ge => sluice_sql::Op::Ge,
                sql::Comparison::Lt => sluice_sql::Op::Lt,
                sql::Comparison::Le => sluice_sql::Op::Le,
            };
            Ok(sluice_sql::Predicate {
                column: p.column,
                op,
                value,
            })
        })
        .collect::<Result<_, sql::SqlError>>()?;
    Ok(sluice_sql::ReadRequest {
        database: r.database,
        schema: r.schema,
        table: r.table,
        columns: r.columns,
        filter,
        order_by: r.order_by,
        limit: r.limit,
        chunk_rows: r.chunk_rows,
    })
}
