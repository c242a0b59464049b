//! The store's invariants: refused writes store nothing, paging and periods, updates,
//! deletes, loaded accounts.

use super::*;
use chrono::TimeZone;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, day, 9, 0, 0).unwrap()
}

fn store() -> Store {
    capped(None)
}

fn capped(cap: Option<u64>) -> Store {
    let mut account = Account::default();
    account.tags.push(TagRec {
        id: 1,
        name: "VIP".into(),
        created_at: at(1),
    });
    account.sequences.push(SequenceRec {
        id: 4,
        name: "Welcome".into(),
        kind: "normal".into(),
    });
    Store::new(account, cap)
}

fn new(email: &str, tags: Vec<u64>) -> Fields {
    Fields {
        email: Some(email.into()),
        tags,
        ..Fields::default()
    }
}

#[test]
fn refused_creates_store_nothing() {
    let mut s = capped(Some(3));
    assert_eq!(s.create(new("a@b.co", vec![1]), at(2)), Ok(1));
    assert_eq!(s.create(new("A@B.CO", vec![]), at(3)), Err(Refusal::Exists));
    assert_eq!(
        s.create(new("c@b.co", vec![2]), at(3)),
        Err(Refusal::TagNotFound)
    );
    let seq = Fields {
        sequences: vec![9],
        ..new("c@b.co", vec![])
    };
    assert_eq!(s.create(seq, at(3)), Err(Refusal::SequenceNotFound));
    assert_eq!(s.contacts_total(), 1);
    assert_eq!(s.create(new("c@b.co", vec![]), at(3)), Ok(2));
    assert_eq!(s.create(new("d@b.co", vec![]), at(4)), Ok(3));
    assert_eq!(s.create(new("e@b.co", vec![]), at(5)), Err(Refusal::Cap));
}

#[test]
fn lists_newest_first_within_bounds() {
    let mut s = store();
    for (i, day) in [2, 3, 5, 9].into_iter().enumerate() {
        s.create(new(&format!("c{i}@b.co"), vec![]), at(day))
            .unwrap();
    }
    let (page, meta) = s.list((Some(at(3)), Some(at(9))), 1, 50);
    let ids: Vec<u64> = page.iter().map(|c| c.id).collect();
    assert_eq!(ids, [3, 2]);
    assert_eq!(meta.total, 2);
    let (page, meta) = s.list((None, None), 2, 3);
    assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), [1]);
    assert_eq!((meta.last_page, meta.total), (2, 4));
    let (page, meta) = s.list((None, None), 9, 3);
    assert!(page.is_empty());
    assert_eq!(meta.current_page, 9);
}

#[test]
fn update_appends_lists_and_guards_email_uniqueness() {
    let mut s = store();
    s.create(new("a@b.co", vec![]), at(2)).unwrap();
    s.create(new("z@b.co", vec![1]), at(3)).unwrap();
    let taken = Fields {
        email: Some("Z@b.co".into()),
        ..Fields::default()
    };
    assert_eq!(s.update(Ident::Id(1), taken), Err(Refusal::Exists));
    let patch = Fields {
        email: Some("New@b.co".into()),
        first_name: Some("Ann".into()),
        tags: vec![1],
        sequences: vec![4],
        ..Fields::default()
    };
    let c = s.update(Ident::Email("A@B.CO"), patch).unwrap();
    assert_eq!(c.email, "New@b.co");
    assert_eq!((c.tags, c.sequences), (Some(vec![1]), Some(vec![4])));
    assert!(s.find(Ident::Email("a@b.co")).is_none());
    assert_eq!(s.find(Ident::Email("new@B.co")).unwrap().id, 1);
    let (members, _) = s.tag_contacts(1, 1, 50).unwrap();
    assert_eq!(members.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        s.update(Ident::Id(99), Fields::default()),
        Err(Refusal::ContactNotFound)
    );
}

#[test]
fn delete_removes_the_contact_everywhere_and_keeps_positions_valid() {
    let mut s = store();
    for (i, day) in [2, 3, 5].into_iter().enumerate() {
        s.create(new(&format!("c{i}@b.co"), vec![1]), at(day))
            .unwrap();
    }
    let gone = s.delete(Ident::Email("C1@b.co")).unwrap();
    assert_eq!(gone.id, 2);
    assert_eq!(s.delete(Ident::Id(2)), Err(Refusal::ContactNotFound));
    assert!(s.find(Ident::Email("c1@b.co")).is_none());
    assert_eq!(s.find(Ident::Id(3)).unwrap().email, "c2@b.co");
    let (page, meta) = s.list((None, None), 1, 50);
    assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(meta.total, 2);
    let (members, _) = s.tag_contacts(1, 1, 50).unwrap();
    assert_eq!(members.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 3]);
    // Ids are not reused, and the email is free again.
    assert_eq!(s.create(new("c1@b.co", vec![]), at(6)), Ok(4));
}

#[test]
fn loaded_accounts_get_indexes_and_next_ids() {
    let mut s = store();
    s.create(new("a@b.co", vec![1]), at(2)).unwrap();
    s.create_tag("Second".into(), at(2)).unwrap();
    let mut account = s.account().clone();
    account.next_contact_id = 0;
    let mut loaded = Store::new(account, None);
    assert_eq!(loaded.find(Ident::Email("A@b.co")).unwrap().id, 1);
    assert_eq!(loaded.create(new("x@b.co", vec![2]), at(3)), Ok(2));
    assert_eq!(
        loaded.create_tag("second".into(), at(3)),
        Err(Refusal::TagExists)
    );
}
