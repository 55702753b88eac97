// Live job progress over the websocket. Messages are hints: on every (re)connect the server sends
// a snapshot of the rows, so a page that slept or lost messages shows the true state again.
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content;
let retry = 500;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/jobs/`);
  socket.onopen = () => { retry = 500; document.body.dataset.socket = "open"; };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    const jobs = msg.type === "snapshot" ? msg.jobs : [msg.job];
    jobs.forEach(applyJob);
    if (msg.type === "snapshot") updateActiveCount(jobs);
  };
  socket.onclose = () => {
    document.body.dataset.socket = "closed";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "sync" }));
  });
}

const known = new Map();
function updateActiveCount(jobs) {
  jobs.forEach((j) => known.set(j.id, j));
  const active = [...known.values()].filter((j) => j.state === "queued" || j.state === "running").length;
  const pill = document.getElementById("jobs-active-count");
  if (pill) { pill.hidden = active === 0; pill.textContent = active; }
}

function applyJob(job) {
  known.set(job.id, job);
  updateActiveCount([]);
  const table = document.querySelector("#jobs-table tbody");
  if (table) {
    let row = table.querySelector(`tr[data-job="${job.id}"]`);
    if (!row) {
      table.querySelector("tr.empty")?.remove();
      row = document.createElement("tr");
      row.dataset.job = job.id;
      row.innerHTML = `<td>${job.id}</td><td></td><td class="state"></td><td><progress></progress> <span class="count"></span></td><td class="message"></td><td></td>`;
      row.children[1].textContent = job.kind;
      table.prepend(row);
    }
    row.dataset.state = job.state;
    row.querySelector(".state").textContent = job.state;
    const bar = row.querySelector("progress");
    bar.max = job.total || 1; bar.value = job.done;
    row.querySelector(".count").textContent = `${job.done}/${job.total}`;
    row.querySelector(".message").textContent = job.error || job.message;
    if (["succeeded", "failed", "cancelled"].includes(job.state)) row.querySelector("button.cancel")?.remove();
  }
  document.dispatchEvent(new CustomEvent("atelier:job", { detail: job }));
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.cancel");
  if (!button) return;
  button.disabled = true;
  const res = await fetch(`/api/jobs/${button.dataset.job}/cancel/`, { method: "POST", headers: { "X-CSRFToken": csrf() } });
  if (res.ok) applyJob(await res.json());
});

// Tiles still processing in a collection grid are refreshed when a job of theirs moves.
document.addEventListener("atelier:job", () => refreshPendingTiles());
let refreshing = false;
async function refreshPendingTiles() {
  if (refreshing) return;
  refreshing = true;
  try {
    for (const tile of document.querySelectorAll(".tile .tile-pending")) {
      const link = tile.closest(".tile");
      const res = await fetch(`/api/photos/${link.dataset.photo}/`);
      if (!res.ok) continue;
      const photo = await res.json();
      if (photo.thumbs_ready) {
        const img = document.createElement("img");
        img.src = `${photo.thumbnail_url}?size=grid`;
        img.alt = photo.title;
        tile.replaceWith(img);
      } else if (photo.process_error) {
        tile.className = "tile-error";
        tile.textContent = photo.process_error;
      }
    }
  } finally { refreshing = false; }
}

connect();
export { applyJob };
