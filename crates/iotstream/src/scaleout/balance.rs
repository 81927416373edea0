//! Who owns which input partition: an even split among the members that moves as few partitions
//! as it can. A pure function of the members and the previous owners, so that the merger's
//! decision can be checked and replayed.

use std::collections::BTreeMap;

/// Owners for `partitions` partitions among `members` (sorted, distinct), keeping each member's
/// current partitions (`previous`, one entry per partition) up to its share. Every member gets
/// `partitions / members` or one more; members holding more now get the larger shares first.
pub fn balance(partitions: usize, members: &[String], previous: &[Option<String>]) -> Vec<Option<String>> {
    if members.is_empty() {
        return vec![None; partitions];
    }
    let held = |m: &String| previous.iter().filter(|owner| owner.as_ref() == Some(m)).count();
    // The larger shares go to those holding most now (ties: by name), so fewer partitions move.
    let mut by_holding: Vec<&String> = members.iter().collect();
    by_holding.sort_by(|a, b| held(b).cmp(&held(a)).then(a.cmp(b)));
    let (base, extra) = (partitions / members.len(), partitions % members.len());
    let quota: BTreeMap<&String, usize> =
        by_holding.iter().enumerate().map(|(rank, &m)| (m, base + usize::from(rank < extra))).collect();
    let mut owners: Vec<Option<String>> = vec![None; partitions];
    let mut count: BTreeMap<&String, usize> = members.iter().map(|m| (m, 0)).collect();
    for (partition, owner) in previous.iter().enumerate().take(partitions) {
        let Some(owner) = owner else { continue };
        let Some((member, have)) = count.iter_mut().find(|(m, _)| **m == owner) else { continue };
        if *have < quota[member] {
            *have += 1;
            owners[partition] = Some(owner.clone());
        }
    }
    for owner in owners.iter_mut().filter(|o| o.is_none()) {
        // The member furthest below its share (ties: by name) takes the next free partition.
        let next = count
            .iter()
            .filter(|(m, have)| **have < quota[**m])
            .min_by(|(a, x), (b, y)| x.cmp(y).then(a.cmp(b)))
            .map(|(m, _)| *m);
        if let Some(member) = next {
            *owner = Some(member.clone());
            if let Some(have) = count.get_mut(member) {
                *have += 1;
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn owners(list: &[Option<&str>]) -> Vec<Option<String>> {
        list.iter().map(|o| o.map(str::to_owned)).collect()
    }

    #[test]
    fn an_even_split_that_moves_as_little_as_it_can() {
        let first = balance(6, &names(&["a"]), &[const { None }; 6]);
        assert_eq!(first, owners(&[Some("a"); 6]));
        let two = balance(6, &names(&["a", "b"]), &first);
        assert_eq!(two, owners(&[Some("a"), Some("a"), Some("a"), Some("b"), Some("b"), Some("b")]));
        let three = balance(6, &names(&["a", "b", "c"]), &two);
        assert_eq!(three, owners(&[Some("a"), Some("a"), Some("c"), Some("b"), Some("b"), Some("c")]));
        // b leaves: its two partitions go to a and c, nothing else moves.
        let after = balance(6, &names(&["a", "c"]), &three);
        assert_eq!(after, owners(&[Some("a"), Some("a"), Some("c"), Some("a"), Some("c"), Some("c")]));
        assert_eq!(balance(6, &names(&["a", "c"]), &after), after, "the same members: no change");
    }

    #[test]
    fn uneven_counts_and_more_members_than_partitions() {
        let split = balance(5, &names(&["a", "b"]), &owners(&[Some("b"), Some("b"), Some("b"), None, None]));
        assert_eq!(
            split.iter().filter(|o| o.as_deref() == Some("b")).count(),
            3,
            "b held most: the larger share"
        );
        let many = balance(2, &names(&["a", "b", "c"]), &[None, None]);
        assert_eq!(many, owners(&[Some("a"), Some("b")]));
        assert_eq!(balance(3, &[], &[None, None, None]), vec![None; 3]);
    }
}
