//! Walking a chunk's records: each record's tape, dicts and lists become rows of the tables
//! they belong to, with keys resolved to column slots once per chunk.

use arrow_array::ArrayRef;
use simd_json::Node;
use sluice_schema::{
    DLT_ID, DLT_LIST_IDX, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, DataType, IdText, Table,
    child_row_ids_with, make_path,
};

use crate::flatten::Cell;
use crate::tables::arrow_type;

use super::builders::{Builder, ColOut, Slot};
use super::scan::{V, scalar};
use super::{Bail, MAX_DEPTH, Map, Spec, id_str};

/// The system columns of a table.
pub(super) struct System {
    pub(super) id: Slot,
    pub(super) load_id: Slot,
    pub(super) parent_id: Slot,
    pub(super) list_idx: Slot,
    pub(super) root_id: Slot,
}

/// One table's rows in a chunk.
pub(super) struct TableOut {
    pub(super) name: String,
    pub(super) rows: usize,
    pub(super) cols: Vec<ColOut>,
    /// for each incomplete column, one past the last row that wrote it (a null)
    pub(super) incomplete: Vec<usize>,
    pub(super) index: Map<String, Slot>,
    pub(super) system: System,
    /// its items' level (dlt's max_table_nesting left)
    pub(super) level: u32,
    /// the key node of its rows' dicts
    pub(super) node: usize,
    /// the nested table `<name>__list` of lists in lists, once resolved
    pub(super) list_child: Option<usize>,
    /// the parent table of a nested table
    pub(super) parent: Option<usize>,
    /// for each row of a nested table: where it hangs (its ids are made when the chunk is
    /// done, several digests at a time)
    pub(super) links: Vec<Link>,
    /// the `_dlt_id` of each row (made in `finish`)
    pub(super) ids: Vec<IdText>,
}

/// Where a nested row hangs: its parent row, its index in the list, its record.
#[derive(Clone, Copy)]
pub(super) struct Link {
    pub(super) parent_row: u32,
    pub(super) idx: u32,
    pub(super) root_row: u32,
}

/// Resolution of the keys met at one place: a table and a path of dicts inside it.
pub(super) struct KeyNode {
    pub(super) table: usize,
    pub(super) path: Vec<String>,
    pub(super) level: u32,
    pub(super) keys: Map<Box<str>, usize>,
    pub(super) entries: Vec<Entry>,
}

pub(super) struct Entry {
    pub(super) norm: String,
    pub(super) slot: Slot,
    /// the column is of type json (its dicts and lists are kept whole)
    pub(super) json: bool,
    /// a `_dlt*` name: the record sets a system column itself
    pub(super) system: bool,
    /// the key node of a dict value, once resolved
    pub(super) dict: Option<usize>,
    /// the nested table of a list value, once resolved
    pub(super) child: Option<usize>,
    /// id of the column path, for list collisions
    pub(super) path_id: u32,
    /// the last dict this key was seen in (duplicate keys in one object)
    pub(super) stamp: u64,
    /// position among the primary key columns of the key hash (root table only)
    pub(super) key: Option<usize>,
}

/// The rows one worker makes from a chunk of records.
pub(super) struct Worker<'s> {
    pub(super) spec: &'s Spec<'s>,
    pub(super) tables: Vec<TableOut>,
    pub(super) table_by_name: Map<String, usize>,
    pub(super) nodes: Vec<KeyNode>,
    pub(super) path_ids: Map<String, u32>,
    /// list paths met by the rows being made; the current row's start at `row_mark`
    pub(super) lists: Vec<u32>,
    pub(super) row_mark: usize,
    pub(super) dicts: u64,
    /// records made so far
    pub(super) records: usize,
    /// the current record's primary key values, for a key-hash root id
    pub(super) key_cells: Vec<Option<Cell>>,
}

/// A chunk's result: its tables in order of their first row.
pub(crate) struct FastChunk {
    pub(super) tables: Vec<(String, usize, Vec<ArrayRef>)>,
    pub(super) records: usize,
}

impl<'s> Worker<'s> {
    pub(super) fn new(spec: &'s Spec<'s>) -> Self {
        Worker {
            spec,
            tables: Vec::new(),
            table_by_name: Map::default(),
            nodes: Vec::new(),
            path_ids: Map::default(),
            lists: Vec::new(),
            row_mark: 0,
            dicts: 0,
            records: 0,
            key_cells: Vec::new(),
        }
    }

    /// The table `name` for this chunk, checked against the schema: it exists with that
    /// parent and takes rows under the contract.
    pub(super) fn table(
        &mut self,
        name: &str,
        parent: Option<usize>,
        level: u32,
    ) -> Result<usize, Bail> {
        if let Some(t) = self.table_by_name.get(name) {
            return Ok(*t);
        }
        let schema_table: &Table = self.spec.schema.tables.get(name).ok_or(Bail("new table"))?;
        let parent_name = parent.map(|p| self.tables[p].name.as_str());
        if schema_table.parent.as_deref() != parent_name {
            return Err(Bail("table reached from another parent"));
        }
        if !schema_table.seen_data() && !self.spec.tables_evolve {
            return Err(Bail("table without data under a tables contract"));
        }
        let mut index = Map::default();
        let mut cols = Vec::new();
        let mut incomplete = Vec::new();
        for col in schema_table.columns.values() {
            if col.is_complete() {
                index.insert(col.name.clone(), Slot::Col(cols.len()));
                cols.push(ColOut {
                    data_type: col.data_type.unwrap_or(DataType::Text),
                    scale: crate::decimal_of(col).1,
                    timezone: col.timezone.unwrap_or(true),
                    len: 0,
                    builder: Builder::new(&arrow_type(col))?,
                });
            } else {
                index.insert(col.name.clone(), Slot::Incomplete(incomplete.len()));
                incomplete.push(0);
            }
        }
        let slot = |n: &str| index.get(n).copied().unwrap_or(Slot::Missing);
        let system = System {
            id: slot(DLT_ID),
            load_id: slot(DLT_LOAD_ID),
            parent_id: slot(DLT_PARENT_ID),
            list_idx: slot(DLT_LIST_IDX),
            root_id: slot(DLT_ROOT_ID),
        };
        let t = self.tables.len();
        let node = self.nodes.len();
        self.nodes.push(KeyNode {
            table: t,
            path: Vec::new(),
            level,
            keys: Map::default(),
            entries: Vec::new(),
        });
        self.tables.push(TableOut {
            name: name.to_owned(),
            rows: 0,
            cols,
            incomplete,
            index,
            system,
            level,
            node,
            list_child: None,
            parent,
            links: Vec::new(),
            ids: Vec::new(),
        });
        self.table_by_name.insert(name.to_owned(), t);
        Ok(t)
    }

    pub(super) fn write(
        &mut self,
        table: usize,
        slot: Slot,
        row: usize,
        v: V<'_>,
    ) -> Result<(), Bail> {
        let t = &mut self.tables[table];
        match slot {
            Slot::Col(c) => t.cols[c].write(row, v),
            Slot::Incomplete(c) => {
                if t.incomplete[c] > row {
                    return Err(Bail("two keys land on one column"));
                }
                if !matches!(v, V::Null) {
                    return Err(Bail("first value of a column"));
                }
                t.incomplete[c] = row + 1;
                Ok(())
            }
            Slot::Missing => Err(Bail("new column")),
        }
    }

    /// The entry of `key` at `node`, made on first sight.
    pub(super) fn resolve(&mut self, node: usize, key: &str) -> Result<usize, Bail> {
        if let Some(e) = self.nodes[node].keys.get(key) {
            return Ok(*e);
        }
        let n = &self.nodes[node];
        let norm = crate::keys::key_name(
            self.spec.schema,
            &self.spec.known,
            &self.tables[n.table].name,
            &n.path,
            key,
            self.spec.max_identifier_len,
        );
        let mut parts: Vec<&str> = n.path.iter().map(String::as_str).collect();
        parts.push(&norm);
        let column = make_path(&parts, self.spec.max_identifier_len);
        let t = &self.tables[n.table];
        let slot = t.index.get(&column).copied().unwrap_or(Slot::Missing);
        let json = matches!(slot, Slot::Col(c) if t.cols[c].data_type == DataType::Json);
        let next = self.path_ids.len() as u32;
        let system = column.starts_with("_dlt");
        let key_pos = match self.spec.key_hash {
            Some(keys) if n.table == 0 => keys.iter().position(|k| *k == column),
            _ => None,
        };
        let path_id = *self.path_ids.entry(column).or_insert(next);
        let e = self.nodes[node].entries.len();
        self.nodes[node].entries.push(Entry {
            system,
            norm,
            slot,
            json,
            dict: None,
            child: None,
            path_id,
            stamp: 0,
            key: key_pos,
        });
        self.nodes[node].keys.insert(key.into(), e);
        Ok(e)
    }

    /// The key node of the dict under entry `e` of `node`.
    pub(super) fn dict_node(&mut self, node: usize, e: usize) -> usize {
        if let Some(d) = self.nodes[node].entries[e].dict {
            return d;
        }
        let n = &self.nodes[node];
        let mut path = n.path.clone();
        path.push(n.entries[e].norm.clone());
        let d = self.nodes.len();
        let child = KeyNode {
            table: n.table,
            path,
            level: n.level - 1,
            keys: Map::default(),
            entries: Vec::new(),
        };
        self.nodes.push(child);
        self.nodes[node].entries[e].dict = Some(d);
        d
    }

    /// The nested table of the list under entry `e` of `node`.
    pub(super) fn child_table(&mut self, node: usize, e: usize) -> Result<usize, Bail> {
        if let Some(c) = self.nodes[node].entries[e].child {
            return Ok(c);
        }
        let n = &self.nodes[node];
        let t = &self.tables[n.table];
        let mut parts: Vec<&str> = vec![&t.name];
        parts.extend(n.path.iter().map(String::as_str));
        parts.push(&n.entries[e].norm);
        let name = make_path(&parts, self.spec.max_identifier_len);
        let (parent, level) = (n.table, t.level.saturating_sub(1));
        let c = self.table(&name, Some(parent), level)?;
        self.nodes[node].entries[e].child = Some(c);
        Ok(c)
    }

    /// One record starting at `pos` of `tape`: its root row and nested rows.
    pub(super) fn record(
        &mut self,
        tape: &[Node<'_>],
        pos: usize,
        id: &IdText,
    ) -> Result<(), Bail> {
        let Some(Node::Object { len, .. }) = tape.get(pos) else {
            return Err(Bail("record is not an object"));
        };
        let root = self.table(self.spec.root, None, self.spec.max_nesting)?;
        let row = self.tables[root].rows;
        self.tables[root].rows += 1;
        self.lists.clear();
        self.row_mark = 0;
        self.key_cells.clear();
        if let Some(keys) = self.spec.key_hash {
            self.key_cells.resize(keys.len(), None);
        }
        let node = self.tables[root].node;
        self.dict(tape, pos + 1, *len, node, row, row, 0)?;
        let key_id: IdText;
        let id = match self.spec.key_hash {
            Some(keys) => {
                let cells = &self.key_cells;
                let hash = crate::flatten::key_hash_id(keys, |k| {
                    let at = keys.iter().position(|key| key == k)?;
                    cells.get(at)?.as_ref()
                })
                .map_err(|_| Bail("primary key missing"))?;
                key_id = IdText::try_from(hash.as_bytes()).map_err(|_| Bail("row id"))?;
                &key_id
            }
            None => id,
        };
        let system = &self.tables[root].system;
        let (load_slot, id_slot) = (system.load_id, system.id);
        self.write(root, load_slot, row, V::Str(self.spec.load_id))?;
        self.write(root, id_slot, row, V::Str(id_str(id)?))?;
        self.tables[root].ids.push(*id);
        self.records += 1;
        Ok(())
    }

    /// The `len` keys of a dict starting at `pos`, into row `row` of the node's table.
    /// Returns the position after the dict.
    #[allow(clippy::too_many_arguments)] // the recursion carries its whole context
    pub(super) fn dict(
        &mut self,
        tape: &[Node<'_>],
        mut pos: usize,
        len: usize,
        node: usize,
        row: usize,
        root_row: usize,
        depth: usize,
    ) -> Result<usize, Bail> {
        if depth > MAX_DEPTH {
            return Err(Bail("deep nesting"));
        }
        self.dicts += 1;
        let stamp = self.dicts;
        let (table, level) = (self.nodes[node].table, self.nodes[node].level);
        for _ in 0..len {
            let Some(Node::String(key)) = tape.get(pos) else {
                return Err(Bail("object key"));
            };
            pos += 1;
            let e = self.resolve(node, key)?;
            let entry = &mut self.nodes[node].entries[e];
            if entry.stamp == stamp {
                return Err(Bail("duplicate key"));
            }
            entry.stamp = stamp;
            if entry.system {
                return Err(Bail("record sets a _dlt column"));
            }
            let (slot, json, path_id, key) = (entry.slot, entry.json, entry.path_id, entry.key);
            if let Some(k) = key {
                let cell = match tape.get(pos) {
                    Some(Node::String(s)) => Some(Cell::Str((*s).to_owned())),
                    Some(Node::Static(v)) => Some(match scalar(v)? {
                        V::Null => Cell::Null,
                        V::Bool(b) => Cell::Bool(b),
                        V::Int(i) => Cell::Int(i),
                        V::Float(f) => Cell::Float(f),
                        V::Str(s) => Cell::Str(s.to_owned()),
                    }),
                    _ => None,
                };
                if let Some(slot) = self.key_cells.get_mut(k) {
                    *slot = cell;
                }
            }
            match tape.get(pos) {
                Some(Node::Object { len, .. }) => {
                    if level == 0 || json {
                        return Err(Bail("dict kept as JSON"));
                    }
                    let d = self.dict_node(node, e);
                    pos = self.dict(tape, pos + 1, *len, d, row, root_row, depth + 1)?;
                }
                Some(Node::Array { len, .. }) => {
                    if level == 0 || json {
                        return Err(Bail("list kept as JSON"));
                    }
                    if self.lists[self.row_mark..].contains(&path_id) {
                        return Err(Bail("two lists land on one nested table"));
                    }
                    self.lists.push(path_id);
                    if *len == 0 {
                        pos += 1;
                    } else {
                        let c = self.child_table(node, e)?;
                        pos = self.list(tape, pos + 1, *len, c, row, root_row, depth + 1)?;
                    }
                }
                Some(Node::String(s)) => {
                    self.write(table, slot, row, V::Str(s))?;
                    pos += 1;
                }
                Some(Node::Static(s)) => {
                    self.write(table, slot, row, scalar(s)?)?;
                    pos += 1;
                }
                None => return Err(Bail("truncated tape")),
            }
        }
        Ok(pos)
    }

    /// The `len` items of a list starting at `pos`, as rows of nested table `table`.
    #[allow(clippy::too_many_arguments)] // the recursion carries its whole context
    pub(super) fn list(
        &mut self,
        tape: &[Node<'_>],
        mut pos: usize,
        len: usize,
        table: usize,
        parent_row: usize,
        root_row: usize,
        depth: usize,
    ) -> Result<usize, Bail> {
        if depth > MAX_DEPTH {
            return Err(Bail("deep nesting"));
        }
        for idx in 0..len {
            let t = &mut self.tables[table];
            let row = t.rows;
            t.rows += 1;
            t.links.push(Link {
                parent_row: parent_row as u32,
                idx: idx as u32,
                root_row: root_row as u32,
            });
            let mark = self.lists.len();
            let outer = std::mem::replace(&mut self.row_mark, mark);
            match tape.get(pos) {
                Some(Node::Object { len, .. }) => {
                    let node = self.tables[table].node;
                    pos = self.dict(tape, pos + 1, *len, node, row, root_row, depth + 1)?;
                }
                Some(Node::Array { len, .. }) => {
                    let t = &self.tables[table];
                    let json = matches!(t.index.get("list"), Some(Slot::Col(c)) if t.cols[*c].data_type == DataType::Json);
                    if t.level == 0 || json {
                        return Err(Bail("list kept as JSON"));
                    }
                    if *len == 0 {
                        pos += 1;
                    } else {
                        let c = match t.list_child {
                            Some(c) => c,
                            None => {
                                let name = make_path(
                                    &[t.name.as_str(), "list"],
                                    self.spec.max_identifier_len,
                                );
                                let level = t.level.saturating_sub(1);
                                let c = self.table(&name, Some(table), level)?;
                                self.tables[table].list_child = Some(c);
                                c
                            }
                        };
                        pos = self.list(tape, pos + 1, *len, c, row, root_row, depth + 1)?;
                    }
                }
                Some(Node::String(s)) => {
                    let slot = value_slot(&self.tables[table]);
                    self.write(table, slot, row, V::Str(s))?;
                    pos += 1;
                }
                Some(Node::Static(s)) => {
                    let slot = value_slot(&self.tables[table]);
                    self.write(table, slot, row, scalar(s)?)?;
                    pos += 1;
                }
                None => return Err(Bail("truncated tape")),
            }
            self.lists.truncate(mark);
            self.row_mark = outer;
            let slot = self.tables[table].system.list_idx;
            self.write(table, slot, row, V::Int(idx as i64))?;
        }
        Ok(pos)
    }

    /// The ids of nested rows, table by table (a parent table comes before its nested
    /// ones), with their `_dlt_parent_id`, `_dlt_root_id` and `_dlt_id` cells.
    pub(super) fn make_ids(&mut self) -> Result<(), Bail> {
        for t in 0..self.tables.len() {
            let Some(p) = self.tables[t].parent else {
                continue;
            };
            let (done, rest) = self.tables.split_at_mut(t);
            let (parent, table) = (&done[p], &mut rest[0]);
            let links = &table.links;
            table.ids = child_row_ids_with(&table.name, links.len(), |i| {
                (
                    parent.ids[links[i].parent_row as usize],
                    links[i].idx as usize,
                )
            });
            let system = &table.system;
            let (p_slot, r_slot, d_slot) = (system.parent_id, system.root_id, system.id);
            for row in 0..self.tables[t].rows {
                let link = self.tables[t].links[row];
                let parent_id = self.tables[p].ids[link.parent_row as usize];
                let id = self.tables[t].ids[row];
                self.write(t, p_slot, row, V::Str(id_str(&parent_id)?))?;
                if self.spec.root_key {
                    let root_id = self.tables[0].ids[link.root_row as usize];
                    self.write(t, r_slot, row, V::Str(id_str(&root_id)?))?;
                }
                self.write(t, d_slot, row, V::Str(id_str(&id)?))?;
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<FastChunk, Bail> {
        self.make_ids()?;
        let tables = self
            .tables
            .iter_mut()
            .map(|t| {
                let rows = t.rows;
                let arrays = t.cols.iter_mut().map(|c| c.finish(rows)).collect();
                (std::mem::take(&mut t.name), rows, arrays)
            })
            .collect();
        Ok(FastChunk {
            tables,
            records: self.records,
        })
    }
}

pub(super) fn value_slot(t: &TableOut) -> Slot {
    t.index.get("value").copied().unwrap_or(Slot::Missing)
}
