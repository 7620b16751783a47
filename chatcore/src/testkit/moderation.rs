//! Reports, server roles and moderation.

use super::{register, say};
use crate::messages::HistoryQuery;
use crate::moderation::{NewReport, ReportQuery, ReportReason};
use crate::users::{Login, Role, UserRef, Username};
use crate::{PageRequest, ReportId, Service, UserId};

fn open_reports() -> ReportQuery {
    ReportQuery::default()
}

fn all_reports() -> ReportQuery {
    ReportQuery {
        include_resolved: true,
        page: PageRequest::default(),
    }
}

pub async fn reports_reach_server_admins(service: &dyn Service) {
    let ann = register(service, "annie").await;
    let spammer = register(service, "spammer").await;
    let moderator = register(service, "moderator").await;
    let chat = service
        .start_direct_chat(&spammer.caller, ann.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let spam = say(service, &spammer, chat, "buy now").await;

    let mut report = NewReport::message(chat, spam.id, ReportReason::Spam);
    report.note = Some("  third time today  ".to_owned());
    let made = service.create_report(&ann.caller, report).await.unwrap();
    assert_eq!(made.reporter.id, ann.id());
    assert_eq!(made.message_text.as_deref(), Some("buy now"));
    assert_eq!(made.note.as_deref(), Some("third time today"));
    assert_eq!(made.resolved_at, None);
    service
        .create_report(&ann.caller, NewReport::chat(chat, ReportReason::Abuse))
        .await
        .unwrap();

    // One reports only what one can see; notes are bounded.
    let error = service
        .create_report(
            &moderator.caller,
            NewReport::chat(chat, ReportReason::Other),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = service
        .create_report(
            &ann.caller,
            NewReport::message(chat, crate::MessageId::new(), ReportReason::Spam),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let mut long = NewReport::chat(chat, ReportReason::Other);
    long.note = Some("x".repeat(1001));
    let error = service.create_report(&ann.caller, long).await.unwrap_err();
    assert_eq!(error.field(), Some("note"));

    // Only server admins see the queue.
    let error = service
        .list_reports(&moderator.caller, open_reports())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let promoted = service
        .set_server_role(
            UserRef::Username(Username::parse("MODERATOR").unwrap()),
            Role::Admin,
        )
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    let error = service
        .set_server_role(UserRef::Id(UserId::new()), Role::Admin)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // The message may be deleted since; the report keeps what was reported.
    service
        .delete_message(&spammer.caller, chat, spam.id)
        .await
        .unwrap();
    let queue = service
        .list_reports(&moderator.caller, open_reports())
        .await
        .unwrap();
    assert_eq!(queue.items.len(), 2);
    assert_eq!(queue.items[0].id, made.id, "oldest first");
    assert_eq!(queue.items[0].message_text.as_deref(), Some("buy now"));
    assert_eq!(queue.items[1].reason, ReportReason::Abuse);

    let error = service
        .resolve_report(&ann.caller, made.id, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let resolved = service
        .resolve_report(&moderator.caller, made.id, Some("warned".to_owned()))
        .await
        .unwrap();
    assert_eq!(resolved.resolved_by, Some(moderator.id()));
    assert_eq!(resolved.resolution.as_deref(), Some("warned"));
    assert!(resolved.resolved_at.is_some());
    let again = service
        .resolve_report(&moderator.caller, made.id, Some("other".to_owned()))
        .await
        .unwrap();
    assert_eq!(again, resolved);
    let error = service
        .resolve_report(&moderator.caller, ReportId::new(), None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    let open = service
        .list_reports(&moderator.caller, open_reports())
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    let all = service
        .list_reports(&moderator.caller, all_reports())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);

    // A demotion counts at once.
    service
        .set_server_role(UserRef::Id(moderator.id()), Role::User)
        .await
        .unwrap();
    let error = service
        .list_reports(&moderator.caller, open_reports())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
}

pub async fn server_admins_deactivate_users_and_delete_any_message(service: &dyn Service) {
    let admin = register(service, "root1").await;
    let troll = register(service, "troll").await;
    let victim = register(service, "victim").await;
    service
        .set_server_role(UserRef::Id(admin.id()), Role::Admin)
        .await
        .unwrap();
    let chat = service
        .start_direct_chat(&troll.caller, victim.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let insult = say(service, &troll, chat, "insult").await;

    // Plain users cannot moderate.
    let error = service
        .deactivate_user(&victim.caller, troll.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let outsider = register(service, "bystander").await;
    let error = service
        .delete_message(&outsider.caller, chat, insult.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // A server admin deletes a message in a chat they are not in.
    service
        .delete_message(&admin.caller, chat, insult.id)
        .await
        .unwrap();
    let history = service
        .list_messages(&victim.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert!(history[0].deleted);
    assert_eq!(history[0].text, None);

    // Deactivation ends every session at once and stops logins.
    service
        .deactivate_user(&admin.caller, troll.id())
        .await
        .unwrap();
    let error = service
        .authenticate(&troll.auth.session.token)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_authorized");
    let login = || Login {
        login: "troll".to_owned(),
        password: troll.password.clone(),
        user_agent: None,
    };
    assert_eq!(
        service.login(login()).await.unwrap_err().code(),
        "invalid_login"
    );
    let error = service
        .start_direct_chat(&outsider.caller, troll.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "user_inactive");
    let error = service
        .deactivate_user(&admin.caller, admin.id())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let error = service
        .deactivate_user(&admin.caller, UserId::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // Reactivation allows new logins; the old sessions stay ended.
    service
        .reactivate_user(&admin.caller, troll.id())
        .await
        .unwrap();
    service.login(login()).await.unwrap();
    assert_eq!(
        service
            .authenticate(&troll.auth.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
}
