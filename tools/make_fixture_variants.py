"""Derive the rotated, EXIF-rotated and grayscale fixture variants.

Run from the repository root:  python3 tools/make_fixture_variants.py
Needs Pillow. The outputs are committed; rerunning reproduces them.
"""
from PIL import Image

def main():
    # A small in-plane rotation: the face stays detectable, alignment must undo the roll.
    im = Image.open("fixtures/obama.jpg").convert("RGB")
    im = im.resize((im.width // 2, im.height // 2), Image.BILINEAR)
    im.rotate(15, resample=Image.BILINEAR, expand=True, fillcolor=(0, 0, 0)).save(
        "fixtures/obama_rot15.png")

    # Stored sideways with EXIF Orientation=6 ("rotate 90 CW to display"): a phone photo.
    gh = Image.open("fixtures/grace_hopper.jpg").convert("RGB")
    stored = gh.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; display rotates it back
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save("fixtures/grace_hopper_exif6.jpg", quality=95, exif=exif.tobytes())

    # Grayscale JPEG.
    Image.open("fixtures/biden.jpg").convert("L").resize((485, 1102), Image.BILINEAR).save(
        "fixtures/biden_gray.jpg", quality=92)

if __name__ == "__main__":
    main()
