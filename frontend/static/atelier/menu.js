// On narrow screens the top bar's links fold into a Menu button (CSS hides the button on wide ones).
const button = document.getElementById("menu-button");
const bar = document.getElementById("topbar");
button.addEventListener("click", () => {
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  bar.classList.toggle("open", open);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && bar.classList.contains("open")) { button.click(); button.focus(); }
});
