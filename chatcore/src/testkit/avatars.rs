//! Avatars: upload, both sizes, replacement, removal and refused uploads.

use image::{DynamicImage, GenericImageView};

use super::{Harness, TestUser, register};
use crate::avatars::{AvatarImage, AvatarSize};
use crate::users::UserSearch;
use crate::{Service, UserId};

pub use crate::avatars::samples::{
    SAMPLE_RED, png_bomb, sample_jpeg_with_orientation, sample_png, sample_transparent_png,
};

/// Decodes an avatar and checks its content type and size.
fn decode(image: &AvatarImage, content_type: &str, size: AvatarSize) -> DynamicImage {
    assert_eq!(image.content_type, content_type);
    let decoded = image::load_from_memory(&image.bytes).unwrap();
    assert_eq!(decoded.dimensions(), (size.pixels(), size.pixels()));
    decoded
}

fn is_red(image: &DynamicImage, x: u32, y: u32) -> bool {
    let [r, g, b, _] = image.get_pixel(x, y).0;
    r > 180 && g < 80 && b < 80
}

async fn avatar(service: &dyn Service, viewer: &TestUser, user: UserId) -> Option<String> {
    service.get_user(&viewer.caller, user).await.unwrap().avatar
}

pub async fn avatars_come_in_two_sizes_for_everyone_to_see(service: &dyn Service) {
    let alice = register(service, "avatar_alice").await;
    let bob = register(service, "avatar_bob").await;
    assert_eq!(alice.auth.user.avatar, None);
    let error = service
        .get_avatar(&bob.caller, alice.id(), AvatarSize::Large)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // An opaque PNG comes out as JPEG.
    let me = service
        .set_avatar(&alice.caller, sample_png(300, 200))
        .await
        .unwrap();
    let hash = me.avatar.clone().expect("an avatar hash");
    assert_eq!(service.get_me(&alice.caller).await.unwrap(), me);
    assert_eq!(avatar(service, &bob, alice.id()).await, Some(hash.clone()));
    let found = service
        .search_users(
            &bob.caller,
            UserSearch {
                query: Some("avatar_alice".to_owned()),
                ..UserSearch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.items[0].avatar, Some(hash.clone()));
    for size in AvatarSize::ALL {
        let image = service
            .get_avatar(&bob.caller, alice.id(), size)
            .await
            .unwrap();
        decode(&image, "image/jpeg", size);
        assert_eq!(image.etag, format!("\"{hash}-{}\"", size.pixels()));
        assert!(!image.bytes.windows(4).any(|window| window == b"Exif"));
    }

    // A phone photo, stored sideways: shown upright, red on top.
    let me = service
        .set_avatar(&bob.caller, sample_jpeg_with_orientation(300, 200, 6))
        .await
        .unwrap();
    assert!(me.avatar.is_some());
    let image = service
        .get_avatar(&alice.caller, bob.id(), AvatarSize::Large)
        .await
        .unwrap();
    let upright = decode(&image, "image/jpeg", AvatarSize::Large);
    assert!(is_red(&upright, 256, 40));
    assert!(!is_red(&upright, 40, 256));
    assert!(!image.bytes.windows(4).any(|window| window == b"Exif"));

    // Transparency survives as PNG.
    service
        .set_avatar(&alice.caller, sample_transparent_png(128, 128))
        .await
        .unwrap();
    for size in AvatarSize::ALL {
        let image = service
            .get_avatar(&alice.caller, alice.id(), size)
            .await
            .unwrap();
        let decoded = decode(&image, "image/png", size);
        assert_eq!(decoded.get_pixel(0, 0).0[3], 0);
    }
}

pub async fn replacing_or_removing_an_avatar_deletes_its_images(harness: &Harness) {
    let service = harness.service();
    let store = &service.inner.avatars.store;
    let stored = |hash: &str, size: AvatarSize| {
        let key = size.key(hash);
        async move { store.get(&key).await.unwrap().is_some() }
    };
    let carol = register(service, "avatar_carol").await;
    let dave = register(service, "avatar_dave").await;

    let first = service
        .set_avatar(&carol.caller, sample_png(64, 64))
        .await
        .unwrap()
        .avatar
        .unwrap();
    // The same upload again changes nothing.
    let again = service
        .set_avatar(&carol.caller, sample_png(64, 64))
        .await
        .unwrap()
        .avatar
        .unwrap();
    assert_eq!(again, first);
    let second = service
        .set_avatar(&carol.caller, sample_png(80, 60))
        .await
        .unwrap()
        .avatar
        .unwrap();
    assert_ne!(second, first);
    for size in AvatarSize::ALL {
        assert!(!stored(&first, size).await, "the old images are gone");
        assert!(stored(&second, size).await);
    }
    let image = service
        .get_avatar(&dave.caller, carol.id(), AvatarSize::Small)
        .await
        .unwrap();
    assert!(image.etag.contains(&second));

    // Two users with the very same image share it until the last one lets go.
    let shared = service
        .set_avatar(&dave.caller, sample_png(80, 60))
        .await
        .unwrap()
        .avatar
        .unwrap();
    assert_eq!(shared, second);
    let me = service.remove_avatar(&carol.caller).await.unwrap();
    assert_eq!(me.avatar, None);
    assert_eq!(avatar(service, &dave, carol.id()).await, None);
    let error = service
        .get_avatar(&dave.caller, carol.id(), AvatarSize::Large)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    assert!(
        stored(&second, AvatarSize::Large).await,
        "dave still shows it"
    );
    service
        .get_avatar(&carol.caller, dave.id(), AvatarSize::Large)
        .await
        .unwrap();
    // Removing twice is fine.
    assert_eq!(
        service.remove_avatar(&carol.caller).await.unwrap().avatar,
        None
    );

    // Deleting the account takes the avatar along.
    service
        .unregister(&dave.caller, &dave.password)
        .await
        .unwrap();
    assert_eq!(avatar(service, &carol, dave.id()).await, None);
    let error = service
        .get_avatar(&carol.caller, dave.id(), AvatarSize::Small)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    for size in AvatarSize::ALL {
        assert!(!stored(&second, size).await);
    }
}

pub async fn bad_avatars_are_refused_and_change_nothing(service: &dyn Service) {
    let erin = register(service, "avatar_erin").await;
    let hash = service
        .set_avatar(&erin.caller, sample_png(100, 100))
        .await
        .unwrap()
        .avatar;
    let before = service
        .get_avatar(&erin.caller, erin.id(), AvatarSize::Large)
        .await
        .unwrap();

    let png = sample_png(64, 64);
    let refused = [
        (
            "garbage",
            b"this is not an image at all".to_vec(),
            "invalid_file",
        ),
        ("empty", Vec::new(), "invalid_file"),
        ("truncated", png[..png.len() / 2].to_vec(), "invalid_file"),
        ("bomb", png_bomb(), "invalid_file"),
        // Checked before anything is decoded: the bytes need not be an image.
        (
            "too large",
            vec![0u8; 5 * 1024 * 1024 + 1],
            "payload_too_large",
        ),
    ];
    for (what, bytes, code) in refused {
        let error = service.set_avatar(&erin.caller, bytes).await.unwrap_err();
        assert_eq!(error.code(), code, "{what}");
        assert_eq!(
            service.get_me(&erin.caller).await.unwrap().avatar,
            hash,
            "{what}"
        );
    }
    let after = service
        .get_avatar(&erin.caller, erin.id(), AvatarSize::Large)
        .await
        .unwrap();
    assert_eq!(after, before);

    let error = service
        .get_avatar(&erin.caller, UserId::new(), AvatarSize::Small)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
}
