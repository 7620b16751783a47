//! Avatars: upload, both sizes, replacement, removal and refused uploads.

use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use image::{DynamicImage, GenericImageView};

use super::{Harness, TestUser, register};
use crate::avatars::{AvatarImage, AvatarSize};
use crate::users::UserSearch;
use crate::{Error, Service, UserId};

pub use crate::avatars::samples::{
    JpegCoding, JpegColor, SAMPLE_RED, corner_picture, encoded, gif_header_only, handmade_jpeg,
    handmade_png, jpeg_header_only, png_bomb, png_header_only, sample_jpeg_with_orientation,
    sample_png, sample_transparent_png, webp_header_only, with_orientation,
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
    let service = harness.core();
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

pub async fn avatar_uploads_wait_in_a_bounded_queue(harness: &Harness) {
    let service = harness.core();
    let avatars = &service.inner.avatars;
    let frank = register(service, "avatar_frank").await;
    let slots = avatars.processing.available_permits();
    let places = avatars.admission.available_permits();
    assert!(places > slots, "some uploads may wait");

    // Every slot busy and the queue full: refused at once, as a transient failure.
    let running = avatars.processing.try_acquire_many(slots as u32).unwrap();
    let queued = avatars.admission.try_acquire_many(places as u32).unwrap();
    let started = Instant::now();
    let error = service
        .set_avatar(&frank.caller, sample_png(64, 64))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "unavailable");
    assert!(error.retry_after().is_some());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Over the pixel budget or the byte limit is told at once, not queued.
    let started = Instant::now();
    let error = service
        .set_avatar(&frank.caller, png_header_only(4097, 4096, 2))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_file");
    assert!(error.to_string().contains("16777216 pixels"), "{error}");
    assert!(started.elapsed() < Duration::from_millis(500));
    let error = service
        .set_avatar(&frank.caller, vec![0; 5 * 1024 * 1024 + 1])
        .await
        .unwrap_err();
    assert_eq!(error.code(), "payload_too_large");
    assert_eq!(service.get_me(&frank.caller).await.unwrap().avatar, None);

    // With room in the queue, an upload waits for a slot and then goes through.
    drop(queued);
    let waiting = tokio::spawn({
        let (service, caller) = (service.clone(), frank.caller.clone());
        async move { service.set_avatar(&caller, sample_png(64, 64)).await }
    });
    while avatars.admission.available_permits() == places {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "no slot is free yet");
    drop(running);
    let me = waiting.await.unwrap().unwrap();
    assert!(me.avatar.is_some());
    assert_eq!(avatars.admission.available_permits(), places);
    assert_eq!(avatars.processing.available_permits(), slots);
}

pub async fn avatar_files_are_read_when_their_turn_comes(harness: &Harness) {
    let service = harness.core();
    let avatars = &service.inner.avatars;
    let gina = register(service, "avatar_gina").await;
    let hal = register(service, "avatar_hal").await;

    // From a file, the same as from bytes.
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&sample_png(90, 60)).unwrap();
    let from_file = service
        .set_avatar_file(&gina.caller, file)
        .await
        .unwrap()
        .avatar;
    let from_bytes = service
        .set_avatar(&hal.caller, sample_png(90, 60))
        .await
        .unwrap()
        .avatar;
    assert!(from_file.is_some());
    assert_eq!(from_file, from_bytes);

    // The header is read at once, the rest when a slot is free: what the file holds by then
    // is the avatar.
    let slots = avatars.processing.available_permits();
    let places = avatars.admission.available_permits();
    let running = avatars.processing.try_acquire_many(slots as u32).unwrap();
    let spooled = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spooled.path(), sample_png(64, 64)).unwrap();
    let waiting = tokio::spawn({
        let (service, caller) = (service.clone(), gina.caller.clone());
        let file = spooled.reopen().unwrap();
        async move { service.set_avatar_file(&caller, file).await }
    });
    while avatars.admission.available_permits() == places {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let later = sample_png(30, 40);
    let mut rewrite = spooled.reopen().unwrap();
    rewrite.seek(SeekFrom::Start(0)).unwrap();
    rewrite.write_all(&later).unwrap();
    rewrite.set_len(later.len() as u64).unwrap();
    drop(running);
    let shown = waiting.await.unwrap().unwrap().avatar;
    let expected = service.set_avatar(&hal.caller, later).await.unwrap().avatar;
    assert_eq!(shown, expected);

    // A file over the byte limit, or an image over the pixel budget, is refused up front.
    let big = tempfile::tempfile().unwrap();
    big.set_len(5 * 1024 * 1024 + 1).unwrap();
    let error = service
        .set_avatar_file(&gina.caller, big)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::PayloadTooLarge));
    let mut over = tempfile::tempfile().unwrap();
    over.write_all(&jpeg_header_only(4097, 4096)).unwrap();
    let error = service
        .set_avatar_file(&gina.caller, over)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_file");
    assert_eq!(service.get_me(&gina.caller).await.unwrap().avatar, shown);
}
