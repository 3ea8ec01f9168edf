// Homeward pages: the volunteer form (photo from camera or gallery, shrunk
// in the browser; "when seen" from the photo's EXIF date; location only
// with consent), and small helpers. No third-party code; served from
// /static/. The page's words come from data-msg-* attributes, so the
// script speaks the page's language.
"use strict";

// ---------- EXIF: DateTimeOriginal (and its offset) from a JPEG ----------

// Returns {wall: "YYYY-MM-DDTHH:MM", offset: "+08:00"|null} or null.
function exifTakenAt(buf) {
  var v = new DataView(buf);
  if (v.byteLength < 4 || v.getUint16(0) !== 0xffd8) return null;
  var p = 2;
  while (p + 4 <= v.byteLength) {
    if (v.getUint8(p) !== 0xff) return null;
    var marker = v.getUint8(p + 1);
    if (marker === 0xda || marker === 0xd9) return null; // image data: no EXIF before it
    var len = v.getUint16(p + 2);
    if (marker === 0xe1 && p + 10 <= v.byteLength &&
        v.getUint32(p + 4) === 0x45786966 && v.getUint16(p + 8) === 0) { // "Exif\0\0"
      return readTiff(v, p + 10, Math.min(v.byteLength, p + 2 + len));
    }
    p += 2 + len;
  }
  return null;
}

function readTiff(v, t, end) {
  if (t + 8 > end) return null;
  var le = v.getUint16(t) === 0x4949;
  var u16 = function (o) { return v.getUint16(o, le); };
  var u32 = function (o) { return v.getUint32(o, le); };
  var ascii = function (entry) {
    var n = u32(entry + 4);
    var at = n <= 4 ? entry + 8 : t + u32(entry + 8);
    if (at + n > end) return null;
    var s = "";
    for (var i = 0; i < n; i++) {
      var c = v.getUint8(at + i);
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  };
  // Tags of one IFD, as {tag: entryOffset}.
  var ifd = function (off) {
    var out = {};
    if (off + 2 > end) return out;
    var n = u16(off);
    for (var i = 0; i < n; i++) {
      var e = off + 2 + i * 12;
      if (e + 12 > end) break;
      out[u16(e)] = e;
    }
    return out;
  };
  var ifd0 = ifd(t + u32(t + 4));
  if (!(0x8769 in ifd0)) return null;
  var exif = ifd(t + u32(ifd0[0x8769] + 8));
  var when = 0x9003 in exif ? ascii(exif[0x9003]) : null; // DateTimeOriginal
  var m = when && /^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2})/.exec(when);
  if (!m || m[1] === "0000") return null;
  var off = 0x9011 in exif ? ascii(exif[0x9011]) : null; // OffsetTimeOriginal
  return {
    wall: m[1] + "-" + m[2] + "-" + m[3] + "T" + m[4] + ":" + m[5],
    offset: off && /^[+-]\d{2}:\d{2}$/.test(off) ? off : null,
  };
}

// An instant written as a datetime-local value in the IANA zone `zone`.
function wallTimeIn(date, zone) {
  try {
    var parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(date);
    var get = function (k) {
      var p = parts.find(function (x) { return x.type === k; });
      return p ? p.value : "";
    };
    return get("year") + "-" + get("month") + "-" + get("day") + "T" + get("hour") + ":" + get("minute");
  } catch (e) {
    return null;
  }
}

// ---------- shrinking: longest side <= 2048 px, JPEG 0.9, no metadata ----------

var MAX_SIDE = 2048;

function shrink(file) {
  // createImageBitmap applies the EXIF orientation; the canvas keeps none
  // of the metadata, so the upload carries no GPS, camera or date.
  return createImageBitmap(file).then(function (bmp) {
    var scale = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
    var w = Math.max(1, Math.round(bmp.width * scale));
    var h = Math.max(1, Math.round(bmp.height * scale));
    var canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").drawImage(bmp, 0, 0, w, h);
    if (bmp.close) bmp.close();
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (blob) resolve({ blob: blob, width: w, height: h });
        else reject(new Error("toBlob"));
      }, "image/jpeg", 0.9);
    });
  });
}

function fill(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, function (_, k) {
    return k in values ? String(values[k]) : "";
  });
}

// ---------- the volunteer form ----------

function setupSubmitForm(form) {
  var msg = function (k) { return form.dataset[k] || ""; };
  var zone = form.dataset.zone || "Asia/Shanghai";
  var gallery = document.getElementById("photo");
  var camera = document.getElementById("photo-camera");
  var preview = document.getElementById("preview");
  var status = document.getElementById("photo-status");
  var seen = document.getElementById("seen-at");
  var seenHint = document.getElementById("seen-at-hint");
  var send = document.getElementById("send");

  function useExifTime(file) {
    if (!seen || !file.slice) return Promise.resolve();
    return file.slice(0, 256 * 1024).arrayBuffer().then(function (buf) {
      var taken = exifTakenAt(buf);
      if (!taken) return;
      var value = taken.wall;
      if (taken.offset) {
        var local = wallTimeIn(new Date(taken.wall + ":00" + taken.offset), zone);
        if (local) value = local;
      }
      // A camera clock in the future is not believed.
      if (seen.max && value > seen.max) return;
      seen.value = value;
      seen.dataset.fromPhoto = "1";
      if (seenHint) seenHint.textContent = msg("msgExifTime");
    }).catch(function () {});
  }

  function onPicked(input) {
    var f = input.files && input.files[0];
    if (!f) return;
    if (send) send.disabled = true;
    if (status) status.textContent = msg("msgPreparing");
    var done = function () {
      if (send) send.disabled = false;
      preview.hidden = false;
    };
    useExifTime(f).then(function () {
      if (typeof createImageBitmap !== "function" || typeof DataTransfer !== "function") {
        throw new Error("no canvas shrinking here");
      }
      return shrink(f);
    }).then(function (out) {
      var small = new File([out.blob], "photo.jpg", { type: "image/jpeg", lastModified: Date.now() });
      var dt = new DataTransfer();
      dt.items.add(small);
      gallery.files = dt.files;
      if (input !== gallery) input.value = "";
      preview.src = URL.createObjectURL(small);
      if (status) status.textContent = fill(msg("msgPhotoReady"), { width: out.width, height: out.height });
      form.dataset.photoReady = "shrunk";
      done();
    }).catch(function () {
      // The original goes as it is; the server removes its metadata.
      if (input === camera && gallery) gallery.value = "";
      preview.src = URL.createObjectURL(f);
      if (status) status.textContent = "";
      form.dataset.photoReady = "original";
      done();
    });
  }
  [gallery, camera].forEach(function (input) {
    if (input) input.addEventListener("change", function () { onPicked(input); });
  });

  // Location: only with the box ticked; unticking forgets it.
  var share = document.getElementById("share-location");
  var locStatus = document.getElementById("locate-status");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  if (share) {
    share.addEventListener("change", function () {
      lat.value = "";
      lon.value = "";
      locStatus.textContent = "";
      if (!share.checked) return;
      if (!navigator.geolocation) {
        locStatus.textContent = msg("msgNoLocation");
        return;
      }
      locStatus.textContent = msg("msgLocating");
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          if (!share.checked) return;
          lat.value = pos.coords.latitude.toFixed(6);
          lon.value = pos.coords.longitude.toFixed(6);
          locStatus.textContent = fill(msg("msgLocated"), { metres: Math.round(pos.coords.accuracy) });
        },
        function () {
          locStatus.textContent = msg("msgNoLocation");
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  form.addEventListener("submit", function () {
    if (share && !share.checked) {
      lat.value = "";
      lon.value = "";
    }
    if (send) {
      send.disabled = true;
      send.textContent = msg("msgSending");
    }
  });
}

document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("submit-form");
  if (form) setupSubmitForm(form);
  var erase = document.getElementById("erase");
  var eraseId = document.getElementById("erase-id");
  if (erase && eraseId) {
    erase.addEventListener("submit", function () {
      erase.action = "/admin/cases/" + encodeURIComponent(eraseId.value) + "/erase";
    });
  }
});
