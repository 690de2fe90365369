// Who is signed in, and a sign-out button, in the top bar (only with `asynctrack server --auth`).
import { session, signOut } from "./api.js";
import { h } from "./dom.js";

const s = await session();
if (s.auth && s.username) {
  const button = h("button", { class: "btn small", type: "button", text: "Sign out" });
  button.addEventListener("click", signOut);
  const who = h("span", { class: "account", id: "account" }, h("span", { text: s.username }), button);
  document.querySelector(".topbar").insertBefore(who, document.getElementById("conn"));
}
