// Homeward pages: photo preview, optional location, time of sighting,
// and a busy state on submit. No third-party code; served from /static/.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var photo = document.getElementById("photo");
  var preview = document.getElementById("preview");
  if (photo && preview) {
    photo.addEventListener("change", function () {
      var f = photo.files && photo.files[0];
      if (f) {
        preview.src = URL.createObjectURL(f);
        preview.hidden = false;
      }
    });
  }
  var locate = document.getElementById("locate");
  var status = document.getElementById("locate-status");
  if (locate && navigator.geolocation) {
    locate.addEventListener("click", function () {
      status.textContent = "Finding your location…";
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          document.getElementById("lat").value = pos.coords.latitude.toFixed(6);
          document.getElementById("lon").value = pos.coords.longitude.toFixed(6);
          status.textContent = "Location added (within about " + Math.round(pos.coords.accuracy) + " m).";
        },
        function () {
          status.textContent = "Location not available; describe the place instead.";
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  } else if (locate) {
    locate.hidden = true;
  }
  var seen = document.getElementById("seen-at");
  if (seen) {
    seen.value = new Date().toISOString();
  }
  var form = document.getElementById("submit-form");
  var send = document.getElementById("send");
  if (form && send) {
    form.addEventListener("submit", function () {
      send.disabled = true;
      send.textContent = "Sending…";
    });
  }
  var erase = document.getElementById("erase");
  var eraseId = document.getElementById("erase-id");
  if (erase && eraseId) {
    erase.addEventListener("submit", function () {
      erase.action = "/admin/cases/" + encodeURIComponent(eraseId.value) + "/erase";
    });
  }
});
