//! Decodes photos with Homeward's intake (limits, EXIF orientation, RGB) and
//! writes the upright pixels as PNG, so reference tools can be fed exactly the
//! pixels Homeward sees: `cargo run --example decode_png -- OUT_DIR PHOTO...`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: decode_png OUT_DIR PHOTO...")?);
    std::fs::create_dir_all(&out)?;
    for photo in args {
        let photo = PathBuf::from(photo);
        let decoded = homeward_core::intake::load_path(&photo, &Default::default())?;
        let name = photo.file_name().ok_or("photo path has no file name")?;
        let target = out.join(name).with_extension("png");
        decoded.image.save(&target)?;
        println!("{}", target.display());
    }
    Ok(())
}
