//! What in a database runs as its definer: views, triggers, routines (procedures,
//! functions, packages) and events. Listed from `information_schema` and made again from
//! the server's own definitions with another definer: in place, when the login that made
//! them goes, or in another database, for a copy. Each statement is prepared, so it is one
//! statement whatever its text holds, and runs under the `sql_mode`, collation and time
//! zone its object was made under, so the server reads the text as it did then.

use mysql::prelude::Queryable;
use mysql::Error;

use super::names::{requalified, Lexing};
use super::{account, ident, Admin, Login};
use crate::providers::ProviderError;

/// The server's answer to a statement it can't prepare (MySQL prepares no `CREATE TRIGGER`).
const UNSUPPORTED_PREPARED: u16 = 1295;

/// The kinds of object, with what each needs beyond its name.
pub(super) enum Kind {
    View,
    /// `PROCEDURE`, `FUNCTION`, `PACKAGE` or `PACKAGE BODY`.
    Routine(String),
    Trigger(Trigger),
    /// Its body, which `ALTER EVENT ... DO` takes.
    Event(String),
}

/// Where a trigger hangs, and what it runs.
pub(super) struct Trigger {
    table: String,
    /// `BEFORE` or `AFTER`.
    timing: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    event: String,
    /// Its place among the triggers of the same table, timing and event.
    order: i64,
    body: String,
}

/// One object, its definer as `information_schema` spells it (`user@host`), and the
/// settings it was made under.
pub(super) struct Stored {
    pub kind: Kind,
    pub name: String,
    pub definer: String,
    sql_mode: String,
    collation: String,
    time_zone: Option<String>,
}

/// Every object of `database`, in the order a copy makes them: routines (a view may call
/// a function), views, triggers (by table, timing, event and place), events.
pub(super) fn list(admin: &mut Admin<'_>, database: &str) -> Result<Vec<Stored>, ProviderError> {
    let mut found = Vec::new();
    let routines: Vec<(String, String, String, String, String)> = admin.rows(
        "SELECT routine_name, routine_type, definer, sql_mode, collation_connection FROM information_schema.routines \
         WHERE routine_schema = ? ORDER BY routine_type = 'PACKAGE BODY', routine_name",
        (database,),
        "listing the database's routines",
    )?;
    for (name, kind, definer, sql_mode, collation) in routines {
        found.push(Stored { kind: Kind::Routine(kind), name, definer, sql_mode, collation, time_zone: None });
    }
    let views: Vec<(String, String, String)> = admin.rows(
        "SELECT table_name, definer, collation_connection FROM information_schema.views WHERE table_schema = ? \
         ORDER BY table_name",
        (database,),
        "listing the database's views",
    )?;
    for (name, definer, collation) in views {
        // A view's definition is kept in a form read alike under every sql_mode.
        let sql_mode = String::new();
        found.push(Stored { kind: Kind::View, name, definer, sql_mode, collation, time_zone: None });
    }
    type TriggerRow = (String, String, String, String, i64, String, String, String, String);
    let triggers: Vec<TriggerRow> = admin.rows(
        "SELECT trigger_name, event_object_table, action_timing, event_manipulation, action_order, \
         action_statement, definer, sql_mode, collation_connection FROM information_schema.triggers \
         WHERE trigger_schema = ? ORDER BY event_object_table, action_timing, event_manipulation, action_order",
        (database,),
        "listing the database's triggers",
    )?;
    for (name, table, timing, event, order, body, definer, sql_mode, collation) in triggers {
        let kind = Kind::Trigger(Trigger { table, timing, event, order, body });
        found.push(Stored { kind, name, definer, sql_mode, collation, time_zone: None });
    }
    let events: Vec<(String, String, String, String, String, String)> = admin.rows(
        "SELECT event_name, event_definition, definer, sql_mode, collation_connection, time_zone \
         FROM information_schema.events WHERE event_schema = ? ORDER BY event_name",
        (database,),
        "listing the database's events",
    )?;
    for (name, body, definer, sql_mode, collation, time_zone) in events {
        let time_zone = Some(time_zone);
        found.push(Stored { kind: Kind::Event(body), name, definer, sql_mode, collation, time_zone });
    }
    Ok(found)
}

impl Stored {
    /// The user part of its definer (a role, which has none, is its own user).
    pub(super) fn user(&self) -> &str {
        self.definer.rsplit_once('@').map_or(&self.definer, |(user, _)| user)
    }

    /// Its definer as `SHOW CREATE` writes it: in backquotes, or in double quotes when
    /// `ANSI_QUOTES` is in the `sql_mode` it writes under (a routine's or event's own).
    fn written_definers(&self) -> [String; 2] {
        let quoted = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        match self.definer.rsplit_once('@') {
            Some((user, host)) => [account(user, host), format!("{}@{}", quoted(user), quoted(host))],
            None => [ident(&self.definer), quoted(&self.definer)],
        }
    }

    /// "trigger addons_x.t", for messages.
    pub(super) fn describe(&self, database: &str) -> String {
        let kind = match &self.kind {
            Kind::View => "view".to_string(),
            Kind::Routine(kind) => kind.to_lowercase(),
            Kind::Trigger(_) => "trigger".to_string(),
            Kind::Event(_) => "event".to_string(),
        };
        format!("{kind} {database}.{}", self.name)
    }

    /// The statement that makes it again in `database`, its own, defined by `definer`: it
    /// replaces the object, and a trigger keeps its place among its table's (`all`).
    pub(super) fn in_place(
        &self,
        admin: &mut Admin<'_>,
        database: &str,
        definer: &str,
        all: &[Stored],
    ) -> Result<String, ProviderError> {
        match &self.kind {
            Kind::View | Kind::Routine(_) => {
                let shown = self.shown(admin, database)?;
                let created =
                    Created::parse(&shown, &self.written_definers()).ok_or_else(|| self.unreadable(database))?;
                Ok(created.with(definer, created.rest, true))
            }
            Kind::Trigger(trigger) => {
                let next = self.next_trigger(all).map(|next| format!(" PRECEDES {}", ident(next)));
                let place = next.as_deref().unwrap_or("");
                trigger
                    .statement(database, &self.name, definer, &trigger.body, place, true)
                    .ok_or_else(|| self.unreadable(database))
            }
            Kind::Event(body) => {
                Ok(format!("ALTER DEFINER = {definer} EVENT {}.{} DO {body}", ident(database), ident(&self.name)))
            }
        }
    }

    /// The statement that makes it in database `to`, defined by `definer`, with every
    /// name qualified by `from`, its own, qualified by `to` instead.
    pub(super) fn copied(
        &self,
        admin: &mut Admin<'_>,
        from: &str,
        to: &str,
        definer: &str,
    ) -> Result<String, ProviderError> {
        let lexing = Lexing::of(&self.sql_mode);
        let refused = || {
            ProviderError::Permanent(format!(
                "{} names database {from} other than as the qualifier of a name, which the copy can't point \
                 at its own database",
                self.describe(from)
            ))
        };
        match &self.kind {
            Kind::Trigger(trigger) => {
                let body = requalified(&trigger.body, from, to, lexing).ok_or_else(refused)?;
                trigger.statement(to, &self.name, definer, &body, "", false).ok_or_else(|| self.unreadable(from))
            }
            Kind::View | Kind::Routine(_) | Kind::Event(_) => {
                let shown = self.shown(admin, from)?;
                let created = Created::parse(&shown, &self.written_definers()).ok_or_else(|| self.unreadable(from))?;
                let rest = requalified(created.rest, from, to, lexing).ok_or_else(refused)?;
                Ok(created.with(definer, &rest, false))
            }
        }
    }

    /// Runs `statement`, which makes it, in `database` under the settings it was made under.
    pub(super) fn make(&self, admin: &mut Admin<'_>, database: &str, statement: &str) -> Result<(), ProviderError> {
        let doing = format!("making {}", self.describe(database));
        let saved: Option<(String, String, String)> = admin
            .conn
            .query_first("SELECT @@SESSION.sql_mode, @@SESSION.collation_connection, @@SESSION.time_zone")
            .map_err(|err| admin.provider.fail(&doing, &err, Login::Admin))?;
        let Some((sql_mode, collation, time_zone)) = saved else {
            return Err(admin.provider.permanent(&format!("{doing}: the server did not show its settings")));
        };
        admin.run(&format!("USE {}", ident(database)), &doing)?;
        let time_zone_of = self.time_zone.as_deref().unwrap_or(&time_zone);
        settle(admin, &self.sql_mode, &self.collation, time_zone_of, &doing)?;
        let made = prepared(admin, statement, &doing);
        settle(admin, &sql_mode, &collation, &time_zone, &doing)?;
        made
    }

    /// What `SHOW CREATE` gives for it in `database`.
    fn shown(&self, admin: &mut Admin<'_>, database: &str) -> Result<String, ProviderError> {
        let (kind, column) = match &self.kind {
            Kind::View => ("VIEW", 1),
            Kind::Routine(kind) => (kind.as_str(), 2),
            Kind::Event(_) => ("EVENT", 3),
            Kind::Trigger(_) => ("TRIGGER", 2),
        };
        let doing = format!("reading the definition of {}", self.describe(database));
        let row: Option<mysql::Row> = admin
            .conn
            .query_first(format!("SHOW CREATE {kind} {}.{}", ident(database), ident(&self.name)))
            .map_err(|err| admin.provider.fail(&doing, &err, Login::Admin))?;
        row.and_then(|row| row.get_opt::<String, _>(column)?.ok())
            .ok_or_else(|| admin.provider.permanent(&format!("{doing}: the server did not show it")))
    }

    /// The trigger after it on the same table, timing and event.
    fn next_trigger<'a>(&self, all: &'a [Stored]) -> Option<&'a str> {
        let Kind::Trigger(own) = &self.kind else { return None };
        all.iter()
            .filter_map(|other| match &other.kind {
                Kind::Trigger(trigger)
                    if trigger.table == own.table
                        && trigger.timing == own.timing
                        && trigger.event == own.event
                        && trigger.order > own.order =>
                {
                    Some((trigger.order, other.name.as_str()))
                }
                _ => None,
            })
            .min()
            .map(|(_, name)| name)
    }

    /// The refusal of a definition that is not as `SHOW CREATE` or `information_schema` give one.
    fn unreadable(&self, database: &str) -> ProviderError {
        ProviderError::Permanent(format!(
            "the definition of {} is not in a form this version can make again; drop it or make it again by hand",
            self.describe(database)
        ))
    }
}

impl Trigger {
    /// `CREATE [OR REPLACE] DEFINER = ... TRIGGER ...` in `database`; `None` for a timing
    /// or event this version does not know.
    fn statement(
        &self,
        database: &str,
        name: &str,
        definer: &str,
        body: &str,
        place: &str,
        replace: bool,
    ) -> Option<String> {
        let known = matches!(self.timing.as_str(), "BEFORE" | "AFTER")
            && matches!(self.event.as_str(), "INSERT" | "UPDATE" | "DELETE");
        if !known {
            return None;
        }
        let (database, or_replace) = (ident(database), if replace { "OR REPLACE " } else { "" });
        Some(format!(
            "CREATE {or_replace}DEFINER = {definer} TRIGGER {database}.{} {} {} ON {database}.{} FOR EACH ROW{place} {body}",
            ident(name),
            self.timing,
            self.event,
            ident(&self.table)
        ))
    }
}

/// A `CREATE [ALGORITHM=...] DEFINER=... ...` statement as `SHOW CREATE` gives it, taken apart.
struct Created<'a> {
    /// `ALGORITHM=... ` (a view's), or nothing.
    algorithm: &'a str,
    /// What follows the definer.
    rest: &'a str,
}

impl<'a> Created<'a> {
    /// `None` when `statement` does not start so, or names another definer than one of
    /// `definers` (the same one, written in each way).
    fn parse(statement: &'a str, definers: &[String]) -> Option<Created<'a>> {
        let after_create = statement.strip_prefix("CREATE ")?;
        let (algorithm, rest) = match after_create.strip_prefix("ALGORITHM=") {
            Some(rest) => {
                let (word, rest) = rest.split_once(' ')?;
                (&after_create[.."ALGORITHM= ".len() + word.len()], rest)
            }
            None => ("", after_create),
        };
        let rest = rest.strip_prefix("DEFINER=")?;
        let rest = definers.iter().find_map(|definer| rest.strip_prefix(definer.as_str()))?.strip_prefix(' ')?;
        Some(Created { algorithm, rest })
    }

    /// The statement with definer `definer` and `rest` after it (`OR REPLACE` when `replace`).
    fn with(&self, definer: &str, rest: &str, replace: bool) -> String {
        let or_replace = if replace { "OR REPLACE " } else { "" };
        format!("CREATE {or_replace}{}DEFINER = {definer} {rest}", self.algorithm)
    }
}

/// Sets the session's `sql_mode`, collation and time zone.
fn settle(
    admin: &mut Admin<'_>,
    sql_mode: &str,
    collation: &str,
    time_zone: &str,
    doing: &str,
) -> Result<(), ProviderError> {
    admin
        .conn
        .exec_drop(
            "SET SESSION sql_mode = ?, collation_connection = ?, time_zone = ?",
            (sql_mode, collation, time_zone),
        )
        .map_err(|err| admin.provider.fail(doing, &err, Login::Admin))
}

/// Runs `statement` prepared: one statement, whatever its text holds. A server that
/// prepares no such statement (MySQL) gets it as text, read under the same settings.
pub(super) fn prepared(admin: &mut Admin<'_>, statement: &str, doing: &str) -> Result<(), ProviderError> {
    match admin.conn.exec_drop(statement, ()) {
        Err(Error::MySqlError(server)) if server.code == UNSUPPORTED_PREPARED => admin.run(statement, doing),
        made => made.map_err(|err| admin.provider.fail(doing, &err, Login::Admin)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definer_is_replaced_and_nothing_else() {
        let remade = |statement, old: &str, new, replace| {
            let written = [old.to_string(), old.replace('`', "\"")];
            Created::parse(statement, &written).map(|created| created.with(new, created.rest, replace))
        };
        let view = "CREATE ALGORITHM=MERGE DEFINER=`addons_a_1_0`@`%` SQL SECURITY DEFINER VIEW `d`.`v` AS select 1";
        assert_eq!(
            remade(view, "`addons_a_1_0`@`%`", "`addons_a`@`%`", true).as_deref(),
            Some("CREATE OR REPLACE ALGORITHM=MERGE DEFINER = `addons_a`@`%` SQL SECURITY DEFINER VIEW `d`.`v` AS select 1")
        );
        let function = "CREATE DEFINER=`addons_aa`@`%` FUNCTION `f`() RETURNS int(11)\nRETURN 42";
        assert_eq!(
            remade(function, "`addons_aa`@`%`", "`addons_bb`@`%`", false).as_deref(),
            Some("CREATE DEFINER = `addons_bb`@`%` FUNCTION `f`() RETURNS int(11)\nRETURN 42")
        );
        let ansi = "CREATE DEFINER=\"addons_aa\"@\"%\" FUNCTION \"f\"() RETURNS int(11)\nRETURN 42";
        assert_eq!(
            remade(ansi, "`addons_aa`@`%`", "`addons_bb`@`%`", true).as_deref(),
            Some("CREATE OR REPLACE DEFINER = `addons_bb`@`%` FUNCTION \"f\"() RETURNS int(11)\nRETURN 42")
        );
        // Another definer than the one listed, or another form: not made.
        assert_eq!(remade(function, "`addons_a`@`%`", "`addons_b`@`%`", false), None);
        assert_eq!(remade("ALTER DEFINER=`addons_aa`@`%` EVENT e", "`addons_aa`@`%`", "x", false), None);
    }

    #[test]
    fn a_trigger_statement_names_its_place() {
        let trigger = Trigger {
            table: "t".into(),
            timing: "AFTER".into(),
            event: "INSERT".into(),
            order: 1,
            body: "INSERT INTO l VALUES (NEW.v)".into(),
        };
        let made = trigger.statement("d", "tr", "`o`@`%`", &trigger.body, " PRECEDES `next`", true);
        assert_eq!(
            made.as_deref(),
            Some(
                "CREATE OR REPLACE DEFINER = `o`@`%` TRIGGER `d`.`tr` AFTER INSERT ON `d`.`t` FOR EACH ROW \
                 PRECEDES `next` INSERT INTO l VALUES (NEW.v)"
            )
        );
        let odd = Trigger { event: "INSERT,UPDATE".into(), ..trigger };
        assert_eq!(odd.statement("d", "tr", "`o`@`%`", "x", "", false), None);
    }
}
