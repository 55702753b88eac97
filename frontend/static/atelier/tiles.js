// One photo tile (the same markup as templates/library/_tile.html), for pages built in the browser.
export function photoTile(photo) {
  const tile = document.createElement("a");
  tile.className = "tile";
  tile.href = `/photos/${photo.id}/`;
  tile.dataset.photo = photo.id;
  tile.title = photo.title || photo.filename || "";
  if (photo.thumbs_ready) {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = `${photo.thumbnail_url || `/api/photos/${photo.id}/thumbnail/`}?size=grid`;
    img.alt = photo.title || photo.filename || "";
    tile.append(img);
  } else {
    const note = document.createElement("span");
    note.className = photo.process_error ? "tile-error" : "tile-pending";
    note.textContent = photo.process_error || "processing…";
    if (!photo.process_error) note.dataset.pending = "1";
    tile.append(note);
  }
  return tile;
}
