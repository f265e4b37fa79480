// Signs a promotion decision with the approver's Ed25519 key, in this browser: the key file is
// read here and never sent; the form carries only the public key and the signature over the
// exact statement the page shows (the server derives it again and checks the signature).
(function () {
  "use strict";
  const form = document.getElementById("sign-form");
  if (!form) return;
  const statement = document.getElementById(form.dataset.statementId).textContent;
  const problem = document.getElementById("sign-error");
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  function pkcs8(pem) {
    const m = pem.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/);
    if (!m) throw new Error("not an unencrypted PKCS#8 PEM key (BEGIN PRIVATE KEY); sign with `mledger approve` instead");
    const raw = atob(m[1].replace(/\s+/g, ""));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  function fromBase64url(text) {
    const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  form.addEventListener("submit", async (event) => {
    if (form.dataset.signed === "yes") return;
    event.preventDefault();
    problem.hidden = true;
    try {
      const file = document.getElementById("keyfile").files[0];
      if (!file) throw new Error("choose your key file");
      const key = await crypto.subtle.importKey("pkcs8", pkcs8(await file.text()), { name: "Ed25519" }, true, ["sign"]);
      const jwk = await crypto.subtle.exportKey("jwk", key);
      const sig = await crypto.subtle.sign({ name: "Ed25519" }, key, new TextEncoder().encode(statement));
      document.getElementById("sign-key").value = "ed25519:" + hex(fromBase64url(jwk.x));
      document.getElementById("sign-sig").value = hex(sig);
      form.dataset.signed = "yes";
      form.submit();
    } catch (err) {
      problem.textContent = "Not signed: " + (err && err.message ? err.message : err);
      problem.hidden = false;
    }
  });
})();
