//! The organisation service: imports units and people (validated against
//! the active policy's ladders and the registry, all or nothing) and reads
//! the registry by unit, subtree or level.

use crate::access::Directory;
use std::collections::HashSet;
use std::sync::Arc;

use wangge_policy::{Person, PolicySet, Unit};
use wangge_store::{Store, StoreError};

use crate::error::{invalid, AppError, AppResult};
use crate::org::{
    fitting_ladders, read_rows, rows_are_people, subtree, validate_people, validate_units,
    NamedLadders, RawRow, Registry,
};

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// How many units, on which ladder.
    Units(usize, String),
    People(usize),
}

/// The organisation registry over the store.
pub struct Organisation {
    store: Arc<dyn Store>,
    /// The registry as the permission checks read it; `None` after a change.
    directory: std::sync::RwLock<Option<Arc<Directory>>>,
    /// The registry's stored change mark last seen (see [`Self::follow`]).
    seen: std::sync::Mutex<Option<Vec<u8>>>,
}

/// The setting every import rewrites: servers sharing a database compare
/// it to know the registry changed elsewhere.
const REGISTRY_MARK: &str = "registry_changed";

/// The ladders units must fit, with their names: `name`, or those the
/// file's levels are on ([`fitting_ladders`]).
fn ladders_for(
    set: &PolicySet,
    name: &str,
    levels: &[String],
) -> AppResult<(String, NamedLadders)> {
    let known = || set.ladders.keys().cloned().collect::<Vec<_>>().join(", ");
    if !name.is_empty() {
        return set
            .ladders
            .get(name)
            .map(|l| (name.to_string(), vec![(name.to_string(), l.clone())]))
            .ok_or_else(|| invalid("ladder", format!("no ladder `{name}` (known: {})", known())));
    }
    let used = fitting_ladders(set, levels);
    if used.is_empty() {
        return Err(invalid("ladder", "the policy declares no ladder"));
    }
    let names: Vec<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    Ok((
        names.join(", "),
        used.iter()
            .map(|(n, l)| ((*n).clone(), l.to_vec()))
            .collect(),
    ))
}

impl Organisation {
    pub fn new(store: Arc<dyn Store>) -> Organisation {
        Organisation {
            store,
            directory: std::sync::RwLock::default(),
            seen: std::sync::Mutex::new(None),
        }
    }

    /// Drops the cached index when another server sharing the database
    /// imported units or people since the last look (called every second
    /// on such servers); whether it did.
    pub fn follow(&self) -> AppResult<bool> {
        let mark = self.store.setting(REGISTRY_MARK)?;
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| StoreError::internal("the registry mark lock is poisoned"))?;
        if *seen == mark {
            return Ok(false);
        }
        *seen = mark;
        if let Ok(mut d) = self.directory.write() {
            *d = None;
        }
        Ok(true)
    }

    /// The registry index the permission checks read, built on first use
    /// after a change.
    pub fn directory(&self) -> AppResult<Arc<Directory>> {
        if let Ok(d) = self.directory.read() {
            if let Some(d) = d.as_ref() {
                return Ok(d.clone());
            }
        }
        let built = Arc::new(Directory::new(&self.store.units()?, self.store.people()?));
        if let Ok(mut d) = self.directory.write() {
            *d = Some(built.clone());
        }
        Ok(built)
    }

    fn changed(&self) -> AppResult<()> {
        if let Ok(mut d) = self.directory.write() {
            *d = None;
        }
        // A mark no other import writes: the time and this process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mark = format!("{nanos}:{}", std::process::id());
        self.store.put_setting(REGISTRY_MARK, mark.as_bytes())?;
        Ok(())
    }

    /// Imports CSV or JSON text (units or people, told by the columns).
    pub fn import(
        &self,
        set: &PolicySet,
        text: &str,
        file: &str,
        ladder: &str,
    ) -> AppResult<Imported> {
        let rows = read_rows(text, file)?;
        if rows_are_people(&rows) {
            self.put_people(set, rows, file).map(Imported::People)
        } else {
            let (n, ladder) = self.put_units(set, rows, ladder, file)?;
            Ok(Imported::Units(n, ladder))
        }
    }

    /// Validates unit rows against `ladder` (or the ladder their levels
    /// fit) and the registry, then stores them all; says how many, on
    /// which ladder.
    pub fn put_units(
        &self,
        set: &PolicySet,
        rows: Vec<RawRow>,
        ladder: &str,
        file: &str,
    ) -> AppResult<(usize, String)> {
        let existing = self.store.units()?;
        let levels: Vec<String> = rows
            .iter()
            .filter_map(|r| r.fields.get("level").cloned())
            .collect();
        let (name, ladders) = ladders_for(set, ladder, &levels)?;
        let units = validate_units(&rows, &ladders, &existing, file)?;
        self.store.put_units(&units)?;
        self.changed()?;
        Ok((units.len(), name))
    }

    /// Validates people rows against the registry and the policy's roles,
    /// then stores them all.
    pub fn put_people(&self, set: &PolicySet, rows: Vec<RawRow>, file: &str) -> AppResult<usize> {
        let units = self.store.units()?;
        let existing = self.store.people()?;
        let registry = Registry {
            units: &units,
            people: &existing,
        };
        let people = validate_people(&rows, &registry, &set.roles, file)?;
        self.store.put_people(&people)?;
        self.changed()?;
        Ok(people.len())
    }

    /// Waits until every write so far is durable (for one-shot tools).
    pub fn flush(&self) -> AppResult<()> {
        Ok(self.store.flush()?)
    }

    /// One unit.
    pub fn unit(&self, id: &str) -> AppResult<Unit> {
        self.store
            .units()?
            .into_iter()
            .find(|u| u.id == id)
            .ok_or_else(|| AppError::UnknownUnit { id: id.to_string() })
    }

    /// Units under `under` (itself included) at `level`, each filter only
    /// when given.
    pub fn units(&self, under: Option<&str>, level: Option<&str>) -> AppResult<Vec<Unit>> {
        let units = self.store.units()?;
        let within = under.map(|u| subtree(&units, u));
        Ok(units
            .into_iter()
            .filter(|u| within.as_ref().is_none_or(|s| s.contains(&u.id)))
            .filter(|u| level.is_none_or(|l| u.level == l))
            .collect())
    }

    /// People of `unit`, or everyone.
    pub fn people(&self, unit: Option<&str>) -> AppResult<Vec<Person>> {
        Ok(self
            .store
            .people()?
            .into_iter()
            .filter(|p| unit.is_none_or(|u| p.serves(u)))
            .collect())
    }

    /// A registered unit and every unit below it; an unknown unit is an
    /// invalid `field`.
    pub fn subtree(&self, root: &str, field: &str) -> AppResult<HashSet<String>> {
        let units = self.store.units()?;
        if !units.iter().any(|u| u.id == root) {
            return Err(invalid(field, format!("no unit `{root}` in the registry")));
        }
        Ok(subtree(&units, root))
    }
}
