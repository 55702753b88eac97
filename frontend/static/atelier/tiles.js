// One photo tile, for pages built in the browser: a link to the photo and a select checkbox
// (a sibling, as a control may not sit inside a link). The same markup as library/_tile.html.
export function photoTile(photo) {
  const tile = document.createElement("div");
  tile.className = "tile";
  tile.dataset.photo = photo.id;
  const name = photo.title || photo.filename || `photo ${photo.id}`;
  tile.title = name;
  const link = document.createElement("a");
  link.className = "tile-link";
  link.href = `/photos/${photo.id}/`;
  if (photo.thumbs_ready) {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = `${photo.thumbnail_url || `/api/photos/${photo.id}/thumbnail/`}?size=grid`;
    img.alt = name;
    link.append(img);
  } else {
    const note = document.createElement("span");
    note.className = photo.process_error ? "tile-error" : "tile-pending";
    note.textContent = photo.process_error || "processing…";
    if (!photo.process_error) note.dataset.pending = "1";
    link.append(note);
  }
  const check = document.createElement("button");
  check.type = "button";
  check.className = "tile-check";
  check.setAttribute("role", "checkbox");
  check.setAttribute("aria-checked", "false");
  check.setAttribute("aria-label", `Select ${name}`);
  tile.append(link, check);
  return tile;
}
