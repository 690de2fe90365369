// The login form: POST the credentials as JSON; the server sets an HttpOnly session cookie.
const form = document.getElementById("login");
const error = document.getElementById("error");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const body = JSON.stringify({
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  });
  let resp;
  try {
    resp = await fetch("/ajax-api/asynctrack/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      credentials: "same-origin",
    });
  } catch (e) {
    error.textContent = `The server did not answer (${e.message}).`;
    return;
  }
  if (resp.ok) {
    window.location.assign("/");
    return;
  }
  let message = `${resp.status} ${resp.statusText}`;
  try {
    message = (await resp.json()).message || message;
  } catch {
    // not JSON: keep the status line
  }
  error.textContent = message;
});
