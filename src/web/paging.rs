//! Pages of the lists that grow with use (a team's game days, its learnings and actions): each
//! shows [`PAGE_SIZE`] rows and links to the next page by the key of its last row (keyset
//! pagination: a row added or removed meanwhile moves no other one between pages, and a page
//! costs the same however far in it is).

use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// How many rows a page of a growing list shows (and the most a summary shows of one).
pub const PAGE_SIZE: i64 = 50;

/// Rows read with a limit of `PAGE_SIZE + 1`, split into the page and, when there are more, the
/// id of its last row, from which the next page reads on.
pub fn split<T>(mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<Uuid>) {
    if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// A page's position from its link (`?after=<id>`, `?before=<id>`): a malformed one names no
/// page, and answers 404 as a malformed id does.
pub fn position(raw: Option<&str>) -> AppResult<Option<Uuid>> {
    raw.filter(|r| !r.is_empty()).map(|r| Uuid::parse_str(r).map_err(|_| AppError::NotFound)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_past_its_size_links_on_from_its_last_row() {
        let rows: Vec<Uuid> = (0..=PAGE_SIZE as u128).map(Uuid::from_u128).collect();
        let (page, next) = split(rows, |id| *id);
        assert_eq!(page.len() as i64, PAGE_SIZE);
        assert_eq!(next, Some(Uuid::from_u128(PAGE_SIZE as u128 - 1)));
        let (page, next) = split(vec![Uuid::nil()], |id| *id);
        assert_eq!((page.len(), next), (1, None));
    }

    #[test]
    fn a_malformed_position_names_no_page() {
        assert!(position(Some("nope")).is_err());
        assert_eq!(position(Some("")).unwrap(), None);
        assert_eq!(position(None).unwrap(), None);
        assert_eq!(position(Some(&Uuid::nil().to_string())).unwrap(), Some(Uuid::nil()));
    }
}
