//! The volunteer flow built for China (issue 15), end to end against the
//! `homeward serve` binary on loopback, as `tests/api.rs` does: pages in
//! Simplified Chinese when the browser asks for it, the language switch,
//! times in the organisation's zone, photos stored without EXIF (GPS
//! included), the location kept only with the volunteer's consent, and a
//! face-less photo kept with a receipt that says so.

#[allow(dead_code)]
mod common;

use common::accounts::Session;
use common::fixtures::{fixture, ADMIN_PASSWORD, PASSWORD};
use common::forms::with_photo;
use common::http::Resp;
use common::server::{self, Serve, Server};
use serde_json::Value;

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        Serve::fresh(&server::args(&[("--analysis-workers", Some("2"))], &[]))
            .env_remove("HOMEWARD_TIME_ZONE")
            .envs(env)
            .start()
    }

    /// A page or API GET as `who`, with extra headers.
    fn get(&self, path: &str, who: Option<&Session>, extra: &[(&str, &str)]) -> Resp {
        let mut h: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
        if let Some(w) = who {
            h.push(("Cookie", w.cookie.clone()));
        }
        self.send("GET", path, &h, None)
    }

    /// The admin's session and a volunteer's session.
    fn people(&self) -> (Session, Session) {
        let admin = self.session("admin", ADMIN_PASSWORD);
        self.add_user(&admin.auth(), "xiaoming", "volunteer");
        (admin, self.session("xiaoming", PASSWORD))
    }

    /// The volunteer page's form, sent as `who` (session and CSRF field).
    fn submit_page(
        &self,
        who: &Session,
        lang: &str,
        fields: &[(&str, &str)],
        photo: Option<&[u8]>,
    ) -> Resp {
        let mut all: Vec<(&str, &str)> = vec![("csrf", who.csrf.as_str())];
        all.extend_from_slice(fields);
        self.send(
            "POST",
            "/submit",
            &[
                ("Cookie", who.cookie.clone()),
                ("Accept-Language", lang.to_string()),
            ],
            Some(with_photo(&all, photo)),
        )
    }

    /// The newest sighting, as a case worker (here the admin) sees it.
    fn newest_sighting(&self, admin: &Session) -> Value {
        let r = self.get("/api/sightings", Some(admin), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .max_by_key(|s| s["id"].as_u64())
            .cloned()
            .expect("a sighting")
    }

    fn stored_photo(&self, admin: &Session, sighting: u64) -> Vec<u8> {
        let r = self.get(
            &format!("/api/sightings/{sighting}/photo"),
            Some(admin),
            &[],
        );
        assert_eq!(r.status, 200);
        r.body
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The opening tag of the element with `id` in `html`.
fn tag_with_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

// ---------- a JPEG with GPS EXIF, XMP and a comment ----------

/// EXIF (TIFF, little-endian): IFD0 with Make, Orientation, the EXIF IFD
/// (DateTimeOriginal) and the GPS IFD (39°54'27"N 116°23'17"E).
fn gps_exif(orientation: u16) -> Vec<u8> {
    fn entry(t: &mut Vec<u8>, tag: u16, ty: u16, n: u32, v: u32) {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&ty.to_le_bytes());
        t.extend_from_slice(&n.to_le_bytes());
        t.extend_from_slice(&v.to_le_bytes());
    }
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: 4 entries -> 8 + 2 + 48 + 4 = 62.
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x010F, 2, 4, u32::from_le_bytes(*b"ACM\0"));
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
    entry(&mut t, 0x8769, 4, 1, 62);
    entry(&mut t, 0x8825, 4, 1, 80);
    t.extend_from_slice(&0u32.to_le_bytes());
    // EXIF IFD at 62: 1 entry -> 62 + 2 + 12 + 4 = 80; its string at 134.
    t.extend_from_slice(&1u16.to_le_bytes());
    entry(&mut t, 0x9003, 2, 20, 134);
    t.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 80: 4 entries -> 80 + 2 + 48 + 4 = 134.
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    entry(&mut t, 0x0002, 5, 3, 154);
    entry(&mut t, 0x0003, 2, 2, u32::from_le_bytes(*b"E\0\0\0"));
    entry(&mut t, 0x0004, 5, 3, 178);
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 134);
    t.extend_from_slice(b"2025:06:01 10:30:00\0");
    for (num, den) in [(39u32, 1u32), (54, 1), (27, 1), (116, 1), (23, 1), (17, 1)] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t
}

fn with_gps(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let seg = |marker: u8, body: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&gps_exif(orientation));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(b"<x:xmpmeta><exif:GPSLatitude>39,54.45N</exif:GPSLatitude></x:xmpmeta>");
    // After SOI and a leading JFIF APP0 if there is one.
    let mut at = 2;
    if jpeg[2..4] == [0xFF, 0xE0] {
        at = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut out = jpeg[..at].to_vec();
    out.extend(seg(0xE1, &exif));
    out.extend(seg(0xE1, &xmp));
    out.extend(seg(0xFE, b"shot near home"));
    out.extend_from_slice(&jpeg[at..]);
    out
}

fn assert_no_metadata(stored: &[u8]) {
    assert!(!contains(stored, b"GPSLatitude"), "XMP GPS kept");
    assert!(!contains(stored, b"ns.adobe.com"), "XMP kept");
    assert!(!contains(stored, b"ACM"), "camera make kept");
    assert!(!contains(stored, b"2025:06:01"), "EXIF date kept");
    assert!(!contains(stored, b"shot near home"), "comment kept");
    // The GPS latitude's rationals (39/1, 54/1) are gone with the GPS IFD.
    let lat: Vec<u8> = [39u32, 1, 54, 1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert!(!contains(stored, &lat), "GPS IFD kept");
}

// ---------- tests ----------

#[test]
fn chinese_when_the_browser_asks_and_the_switch_overrides() {
    let s = Server::start(&[]);
    let zh = [("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")];

    // Sign-in page: English by default, Chinese when asked.
    let en = s.get("/login", None, &[]).text();
    assert!(
        en.contains(r#"<html lang="en">"#) && en.contains("Sign in"),
        "{en}"
    );
    let page = s.get("/login", None, &zh);
    let html = page.text();
    assert!(html.contains(r#"<html lang="zh-CN">"#), "{html}");
    assert!(html.contains("登录") && html.contains("用户名") && html.contains("密码"));
    assert!(!html.contains("Sign in"), "untranslated text: {html}");
    assert!(page
        .header("vary")
        .unwrap_or("")
        .contains("accept-language"));

    // The switch: a link on the page, a cookie, and back to the page.
    assert!(html.contains(r#"href="/lang/en?next=/login""#), "{html}");
    let r = s.get("/lang/en?next=/login", None, &zh);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("hw_lang=en;") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let html = s
        .get("/login", None, &[zh[0], ("Cookie", "hw_lang=en")])
        .text();
    assert!(html.contains(r#"<html lang="en">"#) && html.contains("Sign in"));
    let html = s.get("/login", None, &[("Cookie", "hw_lang=zh-CN")]).text();
    assert!(html.contains(r#"<html lang="zh-CN">"#) && html.contains("登录"));
    // Never a redirect off the site.
    let r = s.get("/lang/zh-CN?next=//evil.example/", None, &[]);
    assert_eq!(r.header("location"), Some("/"));

    // The volunteer form in Chinese: every label, camera and gallery.
    let (_, vol) = s.people();
    let html = s.get("/submit", Some(&vol), &zh).text();
    for words in [
        "报告线索",
        "拍照",
        "从相册选择",
        "看到的时间",
        "Asia/Shanghai",
        "随本报告发送我的位置",
        "隐私说明",
        "GPS 位置",
        "看起来的年龄",
        "不确定",
        "提交报告",
        "退出登录",
        "志愿者",
    ] {
        assert!(html.contains(words), "no {words}: {html}");
    }
    for english in [
        "Report a sighting",
        "Photo<",
        "Send report",
        "Not sure",
        "Sign out",
    ] {
        assert!(!html.contains(english), "English left: {english}");
    }
    // The gallery input has no `capture` (a photo saved from Weibo can be
    // picked); the camera button keeps it.
    let gallery = tag_with_id(&html, "photo");
    assert!(
        gallery.contains(r#"type="file""#) && !gallery.contains("capture"),
        "{gallery}"
    );
    assert!(tag_with_id(&html, "photo-camera").contains(r#"capture="environment""#));
    let seen = tag_with_id(&html, "seen-at");
    assert!(seen.contains(r#"type="datetime-local""#) && seen.contains(r#"name="seen_at""#));
    let share = tag_with_id(&html, "share-location");
    assert!(
        share.contains(r#"type="checkbox""#) && !share.contains("checked"),
        "{share}"
    );

    // Errors on pages are Chinese too.
    let r = s.get("/review", Some(&vol), &zh);
    assert_eq!(r.status, 403);
    let html = r.text();
    assert!(
        html.contains(r#"lang="zh-CN""#) && html.contains("您的账号无权打开此页面"),
        "{html}"
    );
    let r = s.get("/no-such-page", None, &zh);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("出了点问题"));
    // The JSON API stays English.
    let r = s.get("/api/cases", Some(&vol), &zh);
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("role"));
}

#[test]
fn stored_photos_keep_no_exif_and_the_location_needs_consent() {
    let s = Server::start(&[]);
    let (admin, vol) = s.people();

    // From the page, without ticking "share my location": the phone's
    // position is dropped even if it was sent; the photo keeps no EXIF.
    let dirty = with_gps(&fixture("obama2.jpg"), 1);
    assert!(contains(&dirty, b"GPSLatitude") && contains(&dirty, b"Exif\0\0"));
    let r = s.submit_page(
        &vol,
        "zh-CN",
        &[
            ("seen_at", "2025-06-01T10:30"),
            ("place", "北京西站南广场"),
            ("lat", "39.8946"),
            ("lon", "116.3220"),
            ("apparent_age", "8-11"),
            ("sex", "male"),
        ],
        Some(&dirty),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let html = r.text();
    assert!(
        html.contains("报告已收到") && html.contains(r#"id="receipt""#),
        "{html}"
    );
    assert!(
        html.contains("年") && html.contains("月") && html.contains("日"),
        "{html}"
    );
    let first = s.newest_sighting(&admin);
    assert_eq!(first["location"], Value::Null, "{first}");
    assert_eq!(first["place"], "北京西站南广场");
    // 10:30 in Shanghai is 02:30 UTC.
    assert_eq!(first["seen_at"], "2025-06-01T02:30:00Z", "{first}");
    let stored = s.stored_photo(&admin, first["id"].as_u64().unwrap());
    assert!(!contains(&stored, b"Exif"), "EXIF kept");
    assert_no_metadata(&stored);
    // The pixels are the original's: nothing was re-encoded.
    // (The original's metadata holds a thumbnail with its own scan, so the
    // stored photo's first scan is looked for at the original's end.)
    let original = fixture("obama2.jpg");
    let sos = stored.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    assert!(original.ends_with(&stored[sos..]), "the image data changed");

    // With the box ticked, the location is kept.
    let r = s.submit_page(
        &vol,
        "en",
        &[
            ("seen_at", "2025-06-02T08:15"),
            ("share_location", "on"),
            ("lat", "39.8946"),
            ("lon", "116.3220"),
        ],
        Some(&with_gps(&fixture("biden.jpg"), 1)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.text().contains("Report received"));
    let second = s.newest_sighting(&admin);
    assert_ne!(second["id"], first["id"]);
    let loc = second["location"].as_array().expect("location kept");
    assert!(
        (loc[0].as_f64().unwrap() - 39.8946).abs() < 1e-6,
        "{second}"
    );
    assert_no_metadata(&s.stored_photo(&admin, second["id"].as_u64().unwrap()));

    // Through the API: a sideways phone photo keeps only its orientation,
    // so the stored photo still shows upright; an API client may say no to
    // the location too.
    let (ct, body) = with_photo(
        &[
            ("lat", "31.2304"),
            ("lon", "121.4737"),
            ("share_location", "no"),
        ],
        Some(&with_gps(&fixture("grace_hopper_exif6.jpg"), 6)),
    );
    let r = s.send(
        "POST",
        "/api/sightings",
        &[
            ("Cookie", vol.cookie.clone()),
            ("X-CSRF-Token", vol.csrf.clone()),
        ],
        Some((ct, body)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let third = s.newest_sighting(&admin);
    assert_eq!(third["location"], Value::Null);
    let stored = s.stored_photo(&admin, third["id"].as_u64().unwrap());
    assert_no_metadata(&stored);
    // One EXIF block is left, holding one entry: Orientation = 6.
    let at = stored
        .windows(6)
        .position(|w| w == b"Exif\0\0")
        .expect("orientation kept");
    let tiff = &stored[at + 6..];
    assert_eq!(&tiff[..4], b"MM\0*");
    assert_eq!(&tiff[8..10], &1u16.to_be_bytes(), "one IFD entry");
    assert_eq!(
        &tiff[10..12],
        &0x0112u16.to_be_bytes(),
        "the orientation tag"
    );
    assert_eq!(&tiff[18..20], &6u16.to_be_bytes());
}

#[test]
fn a_face_less_photo_is_kept_and_the_receipt_says_so() {
    let s = Server::start(&[]);
    let (admin, vol) = s.people();
    for (lang, words, photo) in [
        (
            "zh-CN",
            "照片中没有找到人脸。您的报告仍已保存",
            "noface/brick.jpg",
        ),
        (
            "en",
            "No face could be found in the photo. Your report is kept",
            "noface/coffee.jpg",
        ),
    ] {
        let r = s.submit_page(&vol, lang, &[("place", "Xidan")], Some(&fixture(photo)));
        assert_eq!(r.status, 201, "{}", r.text());
        let html = r.text();
        assert!(
            html.contains(r#"id="no-face""#) && html.contains(words),
            "{html}"
        );
        assert!(html.contains(r#"id="receipt""#));
        let kept = s.newest_sighting(&admin);
        assert_eq!(kept["faces"], 0, "{kept}");
    }
    let all = s.get("/api/sightings", Some(&admin), &[]).json();
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[test]
fn form_errors_are_said_in_the_readers_language_and_keep_what_was_typed() {
    let s = Server::start(&[("HOMEWARD_TIME_ZONE", "Asia/Shanghai")]);
    let (admin, vol) = s.people();
    // No photo.
    let r = s.submit_page(&vol, "zh-CN", &[("place", "王府井")], None);
    assert_eq!(r.status, 400);
    let html = r.text();
    assert!(html.contains("请先拍照或选择一张照片。"), "{html}");
    assert!(
        html.contains(r#"value="王府井""#),
        "the place is kept: {html}"
    );
    // A time in the future.
    let r = s.submit_page(
        &vol,
        "zh-CN",
        &[("seen_at", "2999-01-01T10:00"), ("note", "红色书包")],
        Some(&fixture("obama3.jpg")),
    );
    assert_eq!(r.status, 422);
    let html = r.text();
    assert!(html.contains("看到的时间晚于现在"), "{html}");
    assert!(
        html.contains("红色书包") && html.contains("请重新选择照片"),
        "{html}"
    );
    // A photo too small to use, in English.
    let tiny = {
        let img = image::RgbImage::new(8, 8);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let r = s.submit_page(&vol, "en", &[], Some(&tiny));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("The photo is too small"));
    // Nothing was stored.
    let all = s.get("/api/sightings", Some(&admin), &[]).json();
    assert!(all.as_array().unwrap().is_empty());
}

#[test]
fn a_wrong_time_zone_stops_the_server_with_a_reason() {
    let args = ["serve", "--addr", "127.0.0.1:0", "--insecure-cookies"].map(String::from);
    let dir = tempfile::tempdir().unwrap();
    let out = Serve::on(&dir.path().join("db"), &args)
        .env("HOMEWARD_TIME_ZONE", "Mars/Olympus_Mons")
        .run();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOMEWARD_TIME_ZONE=Mars/Olympus_Mons"),
        "{err}"
    );
}
