//! Groups, roles and history visibility.

use super::{TestUser, register, say};
use crate::chats::{ChatKind, MemberRole};
use crate::groups::{AssignableRole, ChatTitle, CreateGroup, HistoryVisibility};
use crate::messages::HistoryQuery;
use crate::users::{Role, UserRef};
use crate::{ChatId, PageRequest, Service};

async fn texts(service: &dyn Service, user: &TestUser, chat: ChatId) -> Vec<String> {
    service
        .list_messages(&user.caller, chat, HistoryQuery::latest())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|message| message.text)
        .collect()
}

fn title(text: &str) -> ChatTitle {
    ChatTitle::parse(text).unwrap()
}

pub async fn groups_enforce_roles(service: &dyn Service) {
    let owner = register(service, "owner").await;
    let ann = register(service, "ann").await;
    let bo = register(service, "bob2").await;
    let cy = register(service, "cyd").await;
    let group = service
        .create_group(
            &owner.caller,
            CreateGroup::new(title("Team"), vec![ann.id(), bo.id(), owner.id()]),
        )
        .await
        .unwrap();
    let chat = group.chat.id;
    assert_eq!(group.chat.kind, ChatKind::Group);
    assert_eq!(group.chat.title.as_deref(), Some("Team"));
    assert_eq!(group.members.len(), 3);
    assert_eq!(
        group
            .members
            .iter()
            .filter(|m| m.role == MemberRole::Owner)
            .count(),
        1
    );

    // A plain member may not manage the group, and nothing changes.
    let forbidden = [
        service
            .rename_group(&ann.caller, chat, title("Mine"))
            .await
            .unwrap_err(),
        service
            .add_member(&ann.caller, chat, cy.id())
            .await
            .unwrap_err(),
        service
            .remove_member(&ann.caller, chat, bo.id())
            .await
            .unwrap_err(),
        service
            .set_member_role(&ann.caller, chat, bo.id(), AssignableRole::Admin)
            .await
            .unwrap_err(),
        service.delete_group(&ann.caller, chat).await.unwrap_err(),
    ];
    for error in forbidden {
        assert_eq!(error.code(), "forbidden");
    }
    let detail = service.get_chat(&owner.caller, chat).await.unwrap();
    assert_eq!(detail.chat.title.as_deref(), Some("Team"));
    assert_eq!(detail.members.len(), 3);

    // The owner promotes; an admin renames and adds, but may not remove another admin.
    let promoted = service
        .set_member_role(&owner.caller, chat, ann.id(), AssignableRole::Admin)
        .await
        .unwrap();
    assert_eq!(promoted.role, MemberRole::Admin);
    service
        .set_member_role(&owner.caller, chat, bo.id(), AssignableRole::Admin)
        .await
        .unwrap();
    let renamed = service
        .rename_group(&ann.caller, chat, title("Team 2"))
        .await
        .unwrap();
    assert_eq!(renamed.chat.title.as_deref(), Some("Team 2"));
    let added = service
        .add_member(&ann.caller, chat, cy.id())
        .await
        .unwrap();
    assert_eq!((added.user.id, added.role), (cy.id(), MemberRole::Member));
    let again = service
        .add_member(&ann.caller, chat, cy.id())
        .await
        .unwrap();
    assert_eq!(
        again.joined_at, added.joined_at,
        "adding twice changes nothing"
    );
    let error = service
        .remove_member(&ann.caller, chat, bo.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let error = service
        .remove_member(&ann.caller, chat, owner.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let error = service
        .set_member_role(&ann.caller, chat, cy.id(), AssignableRole::Admin)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");

    // Admins remove members; the owner removes admins; removed members see nothing.
    service
        .remove_member(&ann.caller, chat, cy.id())
        .await
        .unwrap();
    service
        .remove_member(&owner.caller, chat, bo.id())
        .await
        .unwrap();
    for removed in [&cy, &bo] {
        let error = service.get_chat(&removed.caller, chat).await.unwrap_err();
        assert_eq!(error.code(), "not_found");
        let error = service
            .list_messages(&removed.caller, chat, HistoryQuery::latest())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "not_found");
        assert!(
            service
                .list_chats(&removed.caller, PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
    let members = service.list_members(&owner.caller, chat).await.unwrap();
    let roles: Vec<_> = members.iter().map(|m| (m.user.id, m.role)).collect();
    assert_eq!(
        roles,
        [
            (owner.id(), MemberRole::Owner),
            (ann.id(), MemberRole::Admin)
        ]
    );

    // Direct chats have no managers.
    let direct = service
        .start_direct_chat(&owner.caller, ann.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let error = service
        .rename_group(&owner.caller, direct, title("x"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let error = service
        .remove_member(&owner.caller, direct, owner.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
}

pub async fn group_history_starts_at_join_unless_full(service: &dyn Service) {
    let ida = register(service, "ida").await;
    let jon = register(service, "jon").await;
    let since_join = service
        .create_group(&ida.caller, CreateGroup::new(title("Private"), vec![]))
        .await
        .unwrap()
        .chat
        .id;
    let mut full = CreateGroup::new(title("Open"), vec![]);
    full.history = HistoryVisibility::Full;
    let full = service
        .create_group(&ida.caller, full)
        .await
        .unwrap()
        .chat
        .id;
    for chat in [since_join, full] {
        say(service, &ida, chat, "before jon").await;
        service
            .add_member(&ida.caller, chat, jon.id())
            .await
            .unwrap();
        say(service, &ida, chat, "after jon").await;
    }
    assert_eq!(texts(service, &jon, since_join).await, ["after jon"]);
    assert_eq!(
        texts(service, &jon, full).await,
        ["before jon", "after jon"]
    );
    assert_eq!(
        texts(service, &ida, since_join).await,
        ["before jon", "after jon"]
    );

    // Leaving and rejoining starts again from the new join.
    service
        .remove_member(&jon.caller, since_join, jon.id())
        .await
        .unwrap();
    say(service, &ida, since_join, "while jon was away").await;
    service
        .add_member(&ida.caller, since_join, jon.id())
        .await
        .unwrap();
    assert!(texts(service, &jon, since_join).await.is_empty());
    let list = service
        .list_chats(&jon.caller, PageRequest::default())
        .await
        .unwrap();
    let entry = list
        .items
        .iter()
        .find(|item| item.chat.id == since_join)
        .unwrap();
    assert!(
        entry.last_message.is_none(),
        "the preview respects visibility"
    );
    assert_eq!(entry.unread_count, 0);
    say(service, &ida, since_join, "welcome back").await;
    assert_eq!(texts(service, &jon, since_join).await, ["welcome back"]);
}

pub async fn owners_hand_over_and_the_last_one_out_deletes(service: &dyn Service) {
    let kai = register(service, "kai").await;
    let lia = register(service, "lia").await;
    let mo = register(service, "moe").await;
    let chat = service
        .create_group(
            &kai.caller,
            CreateGroup::new(title("Relay"), vec![lia.id(), mo.id()]),
        )
        .await
        .unwrap()
        .chat
        .id;
    service
        .set_member_role(&kai.caller, chat, mo.id(), AssignableRole::Admin)
        .await
        .unwrap();
    // The admin inherits, even though lia joined as early.
    service
        .remove_member(&kai.caller, chat, kai.id())
        .await
        .unwrap();
    let members = service.list_members(&lia.caller, chat).await.unwrap();
    let owner = members
        .iter()
        .find(|m| m.role == MemberRole::Owner)
        .unwrap();
    assert_eq!(owner.user.id, mo.id());
    // Without admins, the longest-standing member inherits.
    service
        .remove_member(&mo.caller, chat, mo.id())
        .await
        .unwrap();
    let members = service.list_members(&lia.caller, chat).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, MemberRole::Owner);
    service
        .remove_member(&lia.caller, chat, lia.id())
        .await
        .unwrap();
    for user in [&kai, &lia, &mo] {
        assert_eq!(
            service
                .get_chat(&user.caller, chat)
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );
    }
}

pub async fn deleting_a_group_removes_it_for_everyone(service: &dyn Service) {
    let ned = register(service, "ned2").await;
    let oz = register(service, "ozzy").await;
    let chat = service
        .create_group(
            &ned.caller,
            CreateGroup::new(title("Doomed"), vec![oz.id()]),
        )
        .await
        .unwrap()
        .chat
        .id;
    say(service, &oz, chat, "hello").await;
    service.delete_group(&ned.caller, chat).await.unwrap();
    for user in [&ned, &oz] {
        let error = service
            .list_messages(&user.caller, chat, HistoryQuery::latest())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "not_found");
        assert!(
            service
                .list_chats(&user.caller, PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

pub async fn group_members_are_checked(service: &dyn Service) {
    let pam = register(service, "pam").await;
    let gone = register(service, "gone").await;
    service
        .unregister(&gone.caller, &gone.password)
        .await
        .unwrap();
    let error = service
        .create_group(
            &pam.caller,
            CreateGroup::new(title("x"), vec![crate::UserId::new()]),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = service
        .create_group(&pam.caller, CreateGroup::new(title("x"), vec![gone.id()]))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "user_inactive");
    assert!(
        service
            .list_chats(&pam.caller, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Membership and session checks may be answered from memory (see `Options::cache`); every
/// change must still show at once: removal, rejoining with a later history start, and a
/// server role change.
pub async fn checks_answered_from_memory_follow_every_change(service: &dyn Service) {
    let owner = register(service, "keeper").await;
    let dana = register(service, "dana").await;
    let chat = service
        .create_group(
            &owner.caller,
            CreateGroup::new(title("Cached"), vec![dana.id()]),
        )
        .await
        .unwrap()
        .chat
        .id;
    say(service, &owner, chat, "before").await;
    // Read twice: the second read may come from memory.
    assert_eq!(texts(service, &dana, chat).await, ["before"]);
    assert_eq!(texts(service, &dana, chat).await, ["before"]);

    service
        .remove_member(&owner.caller, chat, dana.id())
        .await
        .unwrap();
    let refused = service
        .list_messages(&dana.caller, chat, HistoryQuery::latest())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "not_found");
    assert!(service.get_chat(&dana.caller, chat).await.is_err());

    say(service, &owner, chat, "while away").await;
    service
        .add_member(&owner.caller, chat, dana.id())
        .await
        .unwrap();
    say(service, &owner, chat, "after").await;
    // A since_join group: the history starts again at the new join.
    assert_eq!(texts(service, &dana, chat).await, ["after"]);

    // The role travels with the caller that authenticate gives.
    let token = &dana.auth.session.token;
    assert_eq!(
        service.authenticate(token).await.unwrap().role(),
        Role::User
    );
    service
        .set_server_role(UserRef::Id(dana.id()), Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        service.authenticate(token).await.unwrap().role(),
        Role::Admin
    );
}

/// One create-group request lists at most `Options::max_members_per_request` (default 100)
/// members; more are refused before any is looked up, and nothing is created.
pub async fn group_creation_lists_a_bounded_number_of_members(service: &dyn Service) {
    let host = register(service, "host").await;
    let strangers = |count: usize| (0..count).map(|_| crate::UserId::new()).collect::<Vec<_>>();
    let error = service
        .create_group(
            &host.caller,
            CreateGroup::new(title("crowd"), strangers(101)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (error.code(), error.field()),
        ("invalid_input", Some("members"))
    );
    // A hundred is within the bound: these fail only because nobody has those ids.
    let error = service
        .create_group(
            &host.caller,
            CreateGroup::new(title("crowd"), strangers(100)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    assert!(
        service
            .list_chats(&host.caller, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
