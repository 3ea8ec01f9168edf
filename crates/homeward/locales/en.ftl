# Homeward web pages, English. Message ids are shared with zh-CN.ftl;
# the unit test in src/server/i18n.rs checks that both files hold the same ids.

brand = Homeward
lang-switch = Language
nav-submit = Report a sighting
nav-review = Review queue
nav-cases = Cases
nav-admin = Admin
sign-out = Sign out
role-volunteer = volunteer
role-caseworker = case worker
role-admin = admin

## Errors shown on pages
error-title = Error
error-heading = Something went wrong
error-back = Back to the start page
error-details = Details
err-bad_request = The request was not understood; reload the page and try again.
err-bad_form = The form was incomplete or malformed; reload the page and send it again.
err-unauthenticated = Please sign in first.
err-forbidden = Your account may not open this page; ask an administrator if it should.
err-csrf = The page had expired; reload it and send the form again.
err-not_found = Not found.
err-conflict = This was changed in the meantime; reload the page to see its current state.
err-unprocessable = Some of what was sent could not be accepted; check it and try again.
err-unsupported_media_type = This kind of file cannot be used; send a photo (JPEG, PNG or WebP).
err-too_large = The photo or the form is too large; send a smaller photo.
err-rate_limited = Too many requests; wait { $secs } s and try again.
err-busy = The server is busy analysing other photos; try again in { $secs } s.
err-timeout = The request took too long; try a smaller photo or try again later.
err-internal = Something went wrong on the server; try again later. The operator can find details in the server log.
err-bad_credentials = Wrong user name or password.
err-other = The request could not be completed.

## Sign-in
login-title = Sign in
login-username = User name
login-password = Password
login-submit = Sign in

## Volunteer form
submit-title = Report a sighting
submit-safety = Take a photo of the child's face if it is safe to do so. Do not approach or follow the child. If the child is in danger, call the emergency number (110).
submit-photo = Photo
submit-take-photo = Take a photo
submit-pick-photo = Choose from gallery
submit-photo-hint = A photo saved from Weibo or WeChat is fine. It is made smaller on your phone before it is sent.
submit-photo-again = Please choose the photo again.
submit-preview-alt = Preview of the photo
submit-seen-at = When seen
submit-seen-at-hint = Time in { $zone }. Filled from the photo when it records when it was taken.
submit-where = Where
submit-place = Place (street, landmark)
submit-share-location = Share my location with this report
submit-share-location-hint = Your phone's position is sent only if you tick this box.
submit-age = Apparent age
submit-not-sure = Not sure
submit-sex = Apparent sex
submit-girl = Girl
submit-boy = Boy
submit-note = Note (what you saw, clothes, who was with the child)
submit-send = Send report
privacy-title = Your privacy
privacy-text = The photo is kept only for case workers of the organisation, to compare with missing children. Hidden data in the photo (camera, GPS position, date) is removed before it is stored. Your location is kept only if you tick "Share my location". Your user name is recorded with the report.
js-locating = Finding your location…
js-located = Location added (within about { $metres } m).
js-no-location = Location not available; describe the place instead.
js-sending = Sending…
js-preparing = Preparing the photo…
js-exif-time = Time taken from the photo.
js-photo-ready = Photo ready ({ $width } × { $height }).

## Form errors
ferr-no-photo = Choose or take a photo first.
ferr-seen-at = The time seen could not be read; pick a date and time.
ferr-seen-at-future = The time seen is in the future; check the date and time.
ferr-location = The location could not be read; try again or describe the place.
ferr-age = Choose an apparent age from the list.
ferr-sex = Choose the apparent sex from the list.
ferr-too-long = "{ $field }" is too long (at most { $max } characters).
ferr-photo-small = The photo is too small; send a photo at least 32 pixels on each side.
ferr-photo-shape = The photo is too long and narrow; send an ordinary photo.
ferr-photo-large = The photo is too large; send a smaller photo.
ferr-photo-format = This file is not a photo we can read; send a JPEG, PNG or WebP photo.
ferr-photo-broken = The photo could not be read (the file may be damaged); send another photo.
field-place = Place
field-note = Note

## Receipt
receipt-title = Report received
receipt-number = Receipt
receipt-thanks = Thank you. Your report was received and will be looked at by a case worker.
receipt-no-face = No face could be found in the photo. Your report is kept all the same, and a case worker will look at the photo.
receipt-faces = { $faces ->
    [one] One face was found in the photo.
   *[other] { $faces } faces were found in the photo.
}
receipt-received = Received { $time }. Keep the receipt number if you want to ask about your report.
receipt-another = Report another sighting

## Review
review-title = Review queue
review-hint = Candidates are ranked for a person to review. The scores are not a verdict.
review-empty = Nothing waiting for review.
review-item-link = Sighting { $sighting } → case { $case }: { $name }
review-sighting-alt = Sighting { $id }
review-heading = Sighting { $sighting } beside case { $case }
review-sighting = Sighting
review-sighting-photo-alt = Sighting photo
review-case-facts = Missing since { $since } from { $place } · { $sex }
review-born = born { $year }
review-unknown = unknown
review-note = Note for the record
review-confirm = Confirm: same child
review-reject = Reject: not the same child
review-decision = Decision:
review-by = by { $who }
review-note-was = Note: { $note }
review-back = Back to the queue
review-case-photo-alt = Case photo { $id }
review-distance = distance { $d }
band-strong = strong
band-possible = possible
band-weak = weak
state-pending = pending
state-confirmed = confirmed
state-rejected = rejected

## Sighting facts
fact-received = Received
fact-seen-at = Seen at
fact-place = Place
fact-location = Location
fact-age = Apparent age
fact-sex = Apparent sex
fact-note = Note
fact-faces = Faces found

## Cases
cases-title = Cases
col-name = Name
col-missing-since = Missing since
col-from = From
col-status = Status
col-photos = Photos
col-pending = Pending
cases-new = New case
case-child-name = Child's name
case-sex = Sex
sex-unknown = Unknown
sex-female = Female
sex-male = Male
case-birth-date = Birth date
case-missing-since = Missing since
case-missing-from = Missing from (place)
case-notes = Notes
case-create = Create case
case-case = Case
case-born = Born
status-searching = searching
status-found = found
status-closed = closed
case-photos-by-age = Photos by age
case-no-photos = No photos yet.
case-age = Age { $age }
case-age-unknown = Age unknown
case-photo-alt = Photo { $id }
case-age-label = { $years } y { $months } m
case-add-photo = Add a photo
case-photo = Photo
case-age-years = Age in the photo (years)
case-taken-on = Taken on
case-source = Source
case-add-photo-submit = Add photo

## Admin
admin-title = Admin
admin-heading = Registry administration
admin-new-token = New API token (shown once, copy it now):
admin-users = Users
col-role = Role
col-state = State
col-user = User
col-created = Created
state-disabled = disabled
state-active = active
state-revoked = revoked
admin-enable = Enable
admin-disable = Disable
admin-password = Password (at least { $min } characters)
admin-role-volunteer = Volunteer
admin-role-caseworker = Case worker
admin-role-admin = Admin
admin-create-user = Create user
admin-tokens = API tokens
admin-revoke = Revoke
admin-for-user = For user
admin-token-name = Token name
admin-create-token = Create token
admin-erase = Erase a case
admin-erase-hint = Erasure removes the case, its photos, faces and matches for good; the audit log keeps only that case N was erased.
admin-case-number = Case number
admin-erase-confirm = Type ERASE to confirm
admin-erase-submit = Erase case
admin-erased-title = Case erased
admin-erased = Case { $id } erased
admin-back = Back
