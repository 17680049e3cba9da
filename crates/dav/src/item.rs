//! What is read from an item's bytes: its UID, by calcard's parser. The bytes copied
//! are never rewritten; a series with its exceptions (one UID, several VEVENTs with
//! RECURRENCE-ID) is one resource and moves as one.

use calcard::{Entry, Parser};

/// The UID of an iCalendar object or a vCard, if it has one (and only one).
pub fn uid(bytes: &str) -> Result<String, UidError> {
    match Parser::new(bytes).entry() {
        Entry::ICalendar(calendar) => {
            let mut uids: Vec<&str> = calendar.uids().collect();
            uids.sort_unstable();
            uids.dedup();
            match uids[..] {
                [one] => Ok(one.to_string()),
                [] => Err(UidError::Missing),
                _ => Err(UidError::Several(uids.len())),
            }
        }
        Entry::VCard(card) => card.uid().map(str::to_string).ok_or(UidError::Missing),
        other => Err(UidError::Unparsable(
            format!("{other:?}").chars().take(80).collect(),
        )),
    }
}

/// Whether an iCalendar object is a task (a VTODO), counted apart from events.
pub fn is_task(bytes: &str) -> bool {
    match Parser::new(bytes).entry() {
        Entry::ICalendar(calendar) => calendar
            .components
            .iter()
            .any(|c| c.component_type == calcard::icalendar::ICalendarComponentType::VTodo),
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    #[error("the item has no UID")]
    Missing,
    #[error("the item holds {0} different UIDs (a resource holds one object)")]
    Several(usize),
    #[error("the item is neither iCalendar nor vCard: {0}")]
    Unparsable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_with_its_exceptions_has_one_uid() {
        let series = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n\
            BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n\
            RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20260119T090000Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260112T090000Z\r\n\
            DTSTART:20260112T100000Z\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(uid(series), Ok("weekly-1".to_string()));
    }

    #[test]
    fn a_vcard_has_its_uid() {
        let card =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-7\r\nFN:Ann\r\nN:;Ann;;;\r\nEND:VCARD\r\n";
        assert_eq!(uid(card), Ok("card-7".to_string()));
    }

    #[test]
    fn two_objects_in_one_resource_and_none_are_refused() {
        let two = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:a\r\nEND:VTODO\r\n\
            BEGIN:VTODO\r\nUID:b\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        assert_eq!(uid(two), Err(UidError::Several(2)));
        let none = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nSUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        assert_eq!(uid(none), Err(UidError::Missing));
    }
}
