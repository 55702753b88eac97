// A photo's facts, tags and editable title/caption, as shown beside it (lightbox and photo page).
// Tags by hand and edits go through the same API as everything else; what the caller may change
// comes from /api/photos/{id}/facts/.
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content;
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
const SOURCES = { person: "by hand", "zero-shot": "zero-shot, accepted" };

async function call(url, options = {}) {
  const res = await fetch(url, { headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, ...options });
  const body = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function size(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

export async function fillPanel(panel, id, { onPhotoPage = false } = {}) {
  panel.dataset.photo = id;
  const [photo, facts, tags] = await Promise.all([call(`/api/photos/${id}/`), call(`/api/photos/${id}/facts/`),
    call(`/api/photos/${id}/tags/`).catch(() => ({ results: [] }))]);
  if (panel.dataset.photo !== String(id)) return null; // another photo was opened meanwhile
  const title = facts.can_edit
    ? el("input", { className: "inline-edit title-edit", value: photo.title, placeholder: photo.filename, ariaLabel: "Title" })
    : el("h2", { className: "photo-title", textContent: photo.title || photo.filename });
  const caption = facts.can_edit
    ? el("textarea", { className: "inline-edit caption-edit", value: photo.caption, rows: 2, placeholder: "Add a caption", ariaLabel: "Caption" })
    : (photo.caption ? el("p", { className: "photo-caption", textContent: photo.caption }) : null);
  const saved = el("span", { className: "muted save-note", role: "status" });
  for (const [field, input] of [["title", title], ["caption", caption]]) {
    if (!facts.can_edit) continue;
    input.addEventListener("change", async () => {
      try {
        await call(`/api/photos/${id}/`, { method: "PATCH", body: JSON.stringify({ [field]: input.value }) });
        saved.textContent = `${field === "title" ? "Title" : "Caption"} saved`;
        panel.dispatchEvent(new CustomEvent("atelier:photo-changed", { bubbles: true, detail: { id, [field]: input.value } }));
      } catch (err) { saved.textContent = err.message; }
    });
  }
  const rows = [["Taken", photo.taken_at && DATE.format(new Date(photo.taken_at))], ["Added", DATE.format(new Date(photo.created_at))],
    ["Size", `${photo.width} × ${photo.height} · ${photo.format.toUpperCase()} · ${size(photo.bytes)}`],
    ["Camera", facts.camera], ["File", photo.filename], ["Collection", facts.collection_name]];
  const list = el("dl", { className: "facts" });
  rows.filter(([, v]) => v).forEach(([k, v]) => list.append(el("dt", { textContent: k }), el("dd", { textContent: v })));
  const tagList = el("ul", { className: "photo-tags", ariaLabel: "Tags" });
  const accepted = tags.results.filter((t) => t.state === "accepted");
  for (const t of accepted) {
    const remove = facts.can_tag ? el("button", { type: "button", className: "tag-remove", textContent: "×", ariaLabel: `Remove tag ${t.tag_name}` }) : null;
    remove?.addEventListener("click", () => bulk(panel, id, "remove_tag", t.tag_name));
    tagList.append(el("li", { className: "chip photo-tag" }, el("span", { textContent: t.tag_name }),
      el("span", { className: "muted tag-source", textContent: ` (${SOURCES[t.source] || t.source})` }), remove));
  }
  if (!accepted.length) tagList.append(el("li", { className: "muted", textContent: "No tags yet." }));
  let adder = null;
  if (facts.can_tag) {
    const input = el("input", { name: "tag", required: true, maxLength: 100, placeholder: "add a tag", ariaLabel: "New tag" });
    adder = el("form", { className: "tag-adder row" }, input, el("button", { type: "submit", textContent: "Add tag" }));
    adder.addEventListener("submit", (e) => { e.preventDefault(); bulk(panel, id, "add_tag", input.value.trim()); });
  }
  panel.replaceChildren(title, caption, saved, list, el("h3", { textContent: "Tags" }), tagList, adder,
    el("p", { className: "row" }, el("a", { className: "button", href: photo.original_url, textContent: "Download original" }),
      el("a", { className: "button more-like-this", href: `/search/?similar=${id}`, textContent: "More like this" }),
      onPhotoPage ? null : el("a", { className: "button", href: `/photos/${id}/`, textContent: "Photo page" })));
  panel.dataset.ready = id;
  return photo;
}

async function bulk(panel, id, action, tag) {
  if (!tag) return;
  try {
    await call("/api/photos/bulk/", { method: "POST", body: JSON.stringify({ ids: [Number(id)], action, tag }) });
    await fillPanel(panel, id, { onPhotoPage: panel.id === "photo-panel" });
  } catch (err) { panel.querySelector(".save-note").textContent = err.message; }
}
