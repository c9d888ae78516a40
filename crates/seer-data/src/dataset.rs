//! The one in-memory dataset every importer produces and every later step reads.

use seer_core::{IdMap, ItemIdx, UserIdx};
use serde::{Deserialize, Serialize};

/// A categorical column: its name, its vocabulary and one code per row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CategoricalColumn {
    /// Column name as in the source (`"device"`, `"scenario"`, `"event"`).
    pub name: String,
    /// Distinct values; codes index into it.
    pub values: IdMap,
    /// One code per row; `u32::MAX` means missing.
    pub codes: Vec<u32>,
}

/// A free-text column with one entry per entity (item or user); empty string means missing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TextColumn {
    /// Field name (`"title"`, `"brand"`, `"categories"`, `"tags"`, `"age"`, …).
    pub name: String,
    /// One value per entity, indexed by the dense entity index. List-valued fields (genres,
    /// categories, tags) are joined with `" | "`.
    pub values: Vec<String>,
}

/// Interactions, stored by column. Row `r` is one event.
///
/// Invariant: every column has the same length, every `user[r] < n_users`, every
/// `item[r] < n_items` of the owning [`Dataset`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interactions {
    /// Dense user index per event.
    pub user: Vec<UserIdx>,
    /// Dense item index per event.
    pub item: Vec<ItemIdx>,
    /// Unix seconds per event. When the source has no timestamps ([`Dataset::has_timestamps`]
    /// is false) this is the event's position in its user's sequence (0, 1, 2, …), so time
    /// order is still the file order.
    pub ts: Vec<i64>,
    /// Rating or weight per event; 1.0 for implicit feedback.
    pub rating: Vec<f32>,
    /// Free-form categorical context columns (event type, device, scenario, …).
    pub context: Vec<CategoricalColumn>,
}

impl Interactions {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// A new table with only the rows in `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Interactions {
        Interactions {
            user: rows.iter().map(|&r| self.user[r]).collect(),
            item: rows.iter().map(|&r| self.item[r]).collect(),
            ts: rows.iter().map(|&r| self.ts[r]).collect(),
            rating: rows.iter().map(|&r| self.rating[r]).collect(),
            context: self
                .context
                .iter()
                .map(|c| CategoricalColumn {
                    name: c.name.clone(),
                    values: c.values.clone(),
                    codes: rows.iter().map(|&r| c.codes[r]).collect(),
                })
                .collect(),
        }
    }
}

/// A whole dataset: id maps, interactions, item text and user attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Short name (`"amazon-beauty"`, `"ml-100k"`, `"demo"`).
    pub name: String,
    /// Original user ids ↔ dense indices.
    pub users: IdMap,
    /// Original item ids ↔ dense indices.
    pub items: IdMap,
    /// All events, in import order (file order).
    pub interactions: Interactions,
    /// Whether `interactions.ts` holds real unix timestamps.
    pub has_timestamps: bool,
    /// Item text fields, each with `items.len()` values.
    pub item_text: Vec<TextColumn>,
    /// User attribute fields, each with `users.len()` values.
    pub user_attrs: Vec<TextColumn>,
}

impl Dataset {
    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// The value of item text field `field` for `item`, if the field exists and is not empty.
    pub fn item_field(&self, item: ItemIdx, field: &str) -> Option<&str> {
        self.item_text
            .iter()
            .find(|c| c.name == field)
            .and_then(|c| c.values.get(item as usize))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The text a language model reads for an item: its non-empty fields in order, `title`
    /// first and bare, the others as `field: value`, joined by `". "`; list values
    /// (`"a | b"`) read as `"a, b"`. Empty when the item has no text.
    pub fn item_document(&self, item: ItemIdx) -> String {
        document(&self.item_text, item as usize)
    }

    /// The profile text of a user, built like [`Dataset::item_document`] from the user
    /// attributes (`age: 24. gender: M. occupation: technician`). Empty when there is none.
    pub fn user_document(&self, user: UserIdx) -> String {
        document(&self.user_attrs, user as usize)
    }

    /// A human-readable label for an item: its title if it has one, else its original id.
    pub fn item_label(&self, item: ItemIdx) -> String {
        match self.item_field(item, "title") {
            Some(t) => t.to_owned(),
            None => self.items.id(item).unwrap_or("?").to_owned(),
        }
    }
}

/// Fields of entity `i` as one text (see [`Dataset::item_document`]).
fn document(columns: &[TextColumn], i: usize) -> String {
    let mut ordered: Vec<&TextColumn> = columns.iter().filter(|c| c.name == "title").collect();
    ordered.extend(columns.iter().filter(|c| c.name != "title"));
    let mut parts = Vec::new();
    for c in ordered {
        let Some(v) = c.values.get(i).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            continue;
        };
        let v = v.replace(" | ", ", ");
        if c.name == "title" {
            parts.push(v);
        } else {
            parts.push(format!("{}: {v}", c.name.replace('_', " ")));
        }
    }
    parts.join(". ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_put_the_title_first_and_name_the_other_fields() {
        let mut d = Dataset::default();
        d.items.get_or_insert("a");
        d.items.get_or_insert("b");
        d.item_text = vec![
            TextColumn {
                name: "categories".into(),
                values: vec!["Makeup | Nails".into(), "".into()],
            },
            TextColumn {
                name: "title".into(),
                values: vec!["red nail polish".into(), "".into()],
            },
        ];
        assert_eq!(
            d.item_document(0),
            "red nail polish. categories: Makeup, Nails"
        );
        assert_eq!(d.item_document(1), "");
        d.users.get_or_insert("u");
        d.user_attrs = vec![TextColumn {
            name: "zip_code".into(),
            values: vec!["55105".into()],
        }];
        assert_eq!(d.user_document(0), "zip code: 55105");
    }
}
