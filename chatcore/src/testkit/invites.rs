//! Invite links.

use std::time::Duration;

use futures::future::join_all;

use super::{TestUser, register};
use crate::groups::{ChatTitle, CreateGroup};
use crate::invites::{CreateInvite, InviteCode, InviteState};
use crate::{ChatId, Service};

async fn group(service: &dyn Service, owner: &TestUser, members: &[&TestUser]) -> ChatId {
    service
        .create_group(
            &owner.caller,
            CreateGroup::new(
                ChatTitle::parse("Club").unwrap(),
                members.iter().map(|member| member.id()).collect(),
            ),
        )
        .await
        .unwrap()
        .chat
        .id
}

fn code(text: &str) -> InviteCode {
    InviteCode::parse(text).unwrap()
}

pub async fn invites_join_groups_until_expired_revoked_or_used_up(service: &dyn Service) {
    let owner = register(service, "host").await;
    let plain = register(service, "plain").await;
    let guest = register(service, "guest").await;
    let late = register(service, "late").await;
    let chat = group(service, &owner, &[&plain]).await;

    // Only admins create and list invites.
    let error = service
        .create_invite(&plain.caller, CreateInvite::new(chat))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let mut limited = CreateInvite::new(chat);
    limited.max_uses = Some(1);
    let invite = service.create_invite(&owner.caller, limited).await.unwrap();
    assert!(invite.code.len() >= 22, "128 bits of base64");
    assert!(
        invite
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!((invite.uses, invite.max_uses), (0, Some(1)));
    assert_eq!(invite.state, InviteState::Valid);
    let error = service.list_invites(&plain.caller, chat).await.unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let mut past = CreateInvite::new(chat);
    past.expires_at = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
    let error = service
        .create_invite(&owner.caller, past)
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("expires_at"));
    let mut zero = CreateInvite::new(chat);
    zero.max_uses = Some(0);
    let error = service
        .create_invite(&owner.caller, zero)
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("max_uses"));

    // Preview, then accept.
    let single = code(&invite.code);
    let preview = service
        .preview_invite(&guest.caller, &single)
        .await
        .unwrap();
    assert_eq!(preview.title.as_deref(), Some("Club"));
    assert_eq!(preview.member_count, 2);
    assert_eq!(preview.state, InviteState::Valid);
    assert!(!preview.already_member);
    let joined = service.accept_invite(&guest.caller, &single).await.unwrap();
    assert!(joined.joined);
    assert_eq!(joined.chat.members.len(), 3);

    // Accepting again as a member changes nothing and spends no use.
    let again = service.accept_invite(&guest.caller, &single).await.unwrap();
    assert!(!again.joined);
    let unused = service
        .create_invite(&owner.caller, CreateInvite::new(chat))
        .await
        .unwrap();
    let member_accept = service
        .accept_invite(&plain.caller, &code(&unused.code))
        .await
        .unwrap();
    assert!(!member_accept.joined);

    // Used up.
    let error = service
        .accept_invite(&late.caller, &single)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invite_exhausted");
    let preview = service.preview_invite(&late.caller, &single).await.unwrap();
    assert_eq!(preview.state, InviteState::Exhausted);

    // Revoked (by an admin; revoking twice is fine).
    service
        .revoke_invite(&owner.caller, chat, &code(&unused.code))
        .await
        .unwrap();
    service
        .revoke_invite(&owner.caller, chat, &code(&unused.code))
        .await
        .unwrap();
    let error = service
        .accept_invite(&late.caller, &code(&unused.code))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invite_revoked");
    let error = service
        .revoke_invite(&plain.caller, chat, &code(&unused.code))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");

    // Expired.
    let mut soon = CreateInvite::new(chat);
    soon.expires_at = Some(chrono::Utc::now() + chrono::Duration::milliseconds(300));
    let expiring = service.create_invite(&owner.caller, soon).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let error = service
        .accept_invite(&late.caller, &code(&expiring.code))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invite_expired");

    // Unknown codes.
    let error = service
        .accept_invite(&late.caller, &code("AAAAAAAAAAAAAAAAAAAAAA"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // The admins' list shows each invite's state and uses; none of the refusals changed it.
    let invites = service.list_invites(&owner.caller, chat).await.unwrap();
    assert_eq!(invites.len(), 3);
    let state = |code: &str| {
        let invite = invites.iter().find(|invite| invite.code == code).unwrap();
        (invite.state, invite.uses)
    };
    assert_eq!(state(&invite.code), (InviteState::Exhausted, 1));
    assert_eq!(state(&unused.code), (InviteState::Revoked, 0));
    assert_eq!(state(&expiring.code), (InviteState::Expired, 0));
    let members = service.list_members(&owner.caller, chat).await.unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|member| member.user.id != late.id()));

    // Invites go with their group.
    let invite = service
        .create_invite(&owner.caller, CreateInvite::new(chat))
        .await
        .unwrap();
    service.delete_group(&owner.caller, chat).await.unwrap();
    let error = service
        .preview_invite(&late.caller, &code(&invite.code))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
}

pub async fn concurrent_accepts_never_exceed_max_uses(service: &dyn Service) {
    let owner = register(service, "crowdhost").await;
    let chat = group(service, &owner, &[]).await;
    let mut limited = CreateInvite::new(chat);
    limited.max_uses = Some(3);
    let invite = service.create_invite(&owner.caller, limited).await.unwrap();
    let code = code(&invite.code);
    let mut guests = Vec::new();
    for i in 0..12 {
        guests.push(register(service, &format!("crowd{i}")).await);
    }
    // Everyone at once, and one guest twice.
    let accepts = guests
        .iter()
        .chain(std::iter::once(&guests[0]))
        .map(|guest| service.accept_invite(&guest.caller, &code));
    let results = join_all(accepts).await;
    let joined = results
        .iter()
        .filter(|result| result.as_ref().is_ok_and(|joined| joined.joined))
        .count();
    assert_eq!(joined, 3);
    for result in &results {
        if let Err(error) = result {
            assert_eq!(error.code(), "invite_exhausted");
        }
    }
    let members = service.list_members(&owner.caller, chat).await.unwrap();
    assert_eq!(members.len(), 4);
    let invites = service.list_invites(&owner.caller, chat).await.unwrap();
    assert_eq!(invites[0].uses, 3);
    assert_eq!(invites[0].state, InviteState::Exhausted);
}
