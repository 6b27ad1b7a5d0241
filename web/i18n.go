package web

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// langCookie keeps the language the citizen chose.
const langCookie = "lang"

// languages are those the catalogue has, the default first.
var languages = []string{"da", "en"}

// language is the request's language: the lang cookie, else the best of
// Accept-Language (RFC 9110 section 12.5.4), else Danish.
func language(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "da" || c.Value == "en") {
		return c.Value
	}
	type pref struct {
		tag string
		q   float64
	}
	var prefs []pref
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if q > 0 && (primary == "da" || primary == "en" || primary == "nb" || primary == "no" || primary == "nn") {
			if primary != "en" {
				primary = "da" // Norwegian readers get the Scandinavian text
			}
			prefs = append(prefs, pref{primary, q})
		}
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	if len(prefs) > 0 {
		return prefs[0].tag
	}
	return languages[0]
}

// language sets the lang cookie from the switch and goes back.
func (h *Handler) language(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to != "da" && to != "en" {
		to = languages[0]
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: to, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	seeOther(w, r, localPath(r.URL.Query().Get("next")))
}

// text is the catalogue entry key in lang; a missing key shows itself.
func text(lang, key string) string {
	e, ok := catalogue[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return e[1]
	}
	return e[0]
}

// catalogue holds every string of the pages: Danish, then English.
var catalogue = map[string][2]string{
	"site.name":       {"OCES Signering", "OCES Signing"},
	"site.skip":       {"Gå til indholdet", "Skip to content"},
	"site.lang":       {"English", "Dansk"},
	"site.lang.label": {"Sprog", "Language"},
	"site.nav":        {"Hovedmenu", "Main menu"},
	"site.logged_in":  {"Logget ind som %s", "Logged in as %s"},
	"site.footer":     {"OCES PKI: offentlige certifikater til elektroniske services.", "OCES PKI: public certificates for electronic services."},

	"nav.sign":   {"Underskriv", "Sign"},
	"nav.me":     {"Mine oplysninger", "My account"},
	"nav.logout": {"Log ud", "Log out"},

	"title.login":        {"Log ind", "Log in"},
	"title.code":         {"Indtast nøglekode", "Enter your one-time code"},
	"title.new_password": {"Vælg en ny adgangskode", "Choose a new password"},
	"title.sign":         {"Underskriv et dokument", "Sign a document"},
	"title.preview":      {"Se og godkend dokumentet", "Review and confirm the document"},
	"title.done":         {"Dokumentet er underskrevet", "The document is signed"},
	"title.me":           {"Mine oplysninger", "My account"},
	"title.password":     {"Skift adgangskode", "Change password"},
	"title.app":          {"Aktivér kodeappen", "Activate the code app"},
	"title.app_done":     {"Kodeappen er aktiveret", "The code app is activated"},
	"title.error":        {"Der skete en fejl", "Something went wrong"},

	"form.errors":        {"Ret venligst følgende:", "Please correct the following:"},
	"form.user_id":       {"Bruger-ID", "User ID"},
	"form.password":      {"Adgangskode", "Password"},
	"form.current":       {"Nuværende adgangskode", "Current password"},
	"form.new":           {"Ny adgangskode", "New password"},
	"form.repeat":        {"Gentag den nye adgangskode", "Repeat the new password"},
	"form.code":          {"Nøglekode", "One-time code"},
	"form.next":          {"Næste", "Next"},
	"form.login":         {"Log ind", "Log in"},
	"form.save":          {"Gem", "Save"},
	"form.cancel":        {"Annullér", "Cancel"},
	"form.back":          {"Tilbage", "Back"},
	"form.password.hint": {"8 til 64 tegn, ikke dit bruger-ID.", "8 to 64 characters, not your user ID."},

	"login.intro":        {"Log ind med dit bruger-ID og din adgangskode. Derefter beder vi om en nøglekode fra dit nøglekort eller din kodeapp.", "Log in with your user ID and password. Next we ask for a one-time code from your code card or code app."},
	"login.request":      {"En tjenesteudbyder har bedt dig underskrive et dokument. Log ind for at se det.", "A service provider has asked you to sign a document. Log in to see it."},
	"code.card":          {"Find nøgle nummer %s på dit nøglekort og indtast koden ved siden af.", "Find key number %s on your code card and enter the code next to it."},
	"code.card_label":    {"Kode til nøgle %s", "Code for key %s"},
	"code.app":           {"Du kan også bruge en kode fra kodeappen.", "You may also use a code from the code app."},
	"code.app_only":      {"Indtast koden fra kodeappen.", "Enter the code from the code app."},
	"code.hint":          {"6 cifre.", "6 digits."},
	"new_password.intro": {"Du er logget ind med en midlertidig adgangskode. Vælg din egen, før du fortsætter.", "You logged in with a temporary password. Choose your own before you go on."},
	"logout.done":        {"Du er logget ud.", "You have logged out."},

	"sign.intro":      {"Vælg en PDF-fil, eller skriv en tekst, der bliver til en PDF. Du ser dokumentet, før du underskriver.", "Choose a PDF file, or write a text that becomes a PDF. You see the document before you sign."},
	"sign.upload":     {"Underskriv en PDF-fil", "Sign a PDF file"},
	"sign.file":       {"PDF-fil", "PDF file"},
	"sign.file.hint":  {"Højst %s og %d sider.", "At most %s and %d pages."},
	"sign.upload.go":  {"Vis dokumentet", "Show the document"},
	"sign.text":       {"Underskriv en tekst", "Sign a text"},
	"sign.text.label": {"Tekst", "Text"},
	"sign.text.hint":  {"Teksten sættes op som en PDF på A4-sider.", "The text is set as a PDF on A4 pages."},
	"sign.text.go":    {"Lav PDF og vis den", "Make the PDF and show it"},

	"preview.intro":         {"Det er præcis dette dokument, du underskriver. Læs det igennem.", "This is exactly the document you will sign. Read it through."},
	"preview.facts":         {"Om dokumentet", "About the document"},
	"preview.name":          {"Navn", "Name"},
	"preview.pages":         {"Sider", "Pages"},
	"preview.sha256":        {"SHA-256", "SHA-256"},
	"preview.page_alt":      {"Side %d af %d", "Page %d of %d"},
	"preview.confirm":       {"Godkend med adgangskode og nøglekode", "Confirm with your password and a one-time code"},
	"preview.confirm.intro": {"Din underskrift binder dig til dokumentet med SHA-256 ovenfor. Koden bruges kun til denne underskrift.", "Your signature binds you to the document with the SHA-256 above. The code is used for this signature only."},
	"preview.sign":          {"Underskriv", "Sign"},
	"preview.request":       {"Tjenesteudbyderen %s har bedt dig underskrive dette dokument.", "The service provider %s asks you to sign this document."},
	"preview.refuse":        {"Afvis og gå tilbage", "Refuse and go back"},
	"preview.discard":       {"Kassér dokumentet", "Discard the document"},

	"done.intro":         {"Din underskrift er lagt i dokumentet (PAdES B-LTA, kan valideres i mange år).", "Your signature is in the document (PAdES B-LTA, verifiable for many years)."},
	"done.download":      {"Hent det underskrevne dokument", "Download the signed document"},
	"done.summary":       {"Validering af det underskrevne dokument", "Validation of the signed document"},
	"done.indication":    {"Resultat", "Result"},
	"done.signer":        {"Underskriver", "Signer"},
	"done.time":          {"Tidspunkt", "Time"},
	"done.level":         {"Niveau", "Level"},
	"done.no_summary":    {"Valideringen er ikke tilgængelig lige nu.", "Validation is not available right now."},
	"done.another":       {"Underskriv et andet dokument", "Sign another document"},
	"done.TOTAL-PASSED":  {"Gyldig", "Valid"},
	"done.TOTAL-FAILED":  {"Ugyldig", "Invalid"},
	"done.INDETERMINATE": {"Kunne ikke afgøres", "Could not be decided"},

	"me.intro":                     {"Her ser du dine certifikater og dit nøglekort, og du kan skifte adgangskode.", "Here you see your certificates and code card, and you can change your password."},
	"me.certificates":              {"Mine certifikater", "My certificates"},
	"me.none":                      {"Du har ingen certifikater endnu. Der udstedes et til hver underskrift.", "You have no certificates yet. One is issued for each signature."},
	"me.serial":                    {"Serienummer", "Serial number"},
	"me.profile":                   {"Type", "Type"},
	"me.status":                    {"Status", "Status"},
	"me.valid":                     {"Gyldigt", "Valid"},
	"me.valid_from_to":             {"%s til %s", "%s to %s"},
	"me.action":                    {"Handling", "Action"},
	"me.suspend":                   {"Spær", "Suspend"},
	"me.suspend.label":             {"Spær certifikat %s", "Suspend certificate %s"},
	"me.suspended":                 {"Certifikat %s er spærret. Statustjenesten (OCSP) svarer nu »certificateHold«.", "Certificate %s is suspended. The status service (OCSP) now answers \"certificateHold\"."},
	"me.status.good":               {"Aktivt", "Active"},
	"me.status.suspended":          {"Spærret", "Suspended"},
	"me.status.revoked":            {"Tilbagekaldt", "Revoked"},
	"me.status.expired":            {"Udløbet", "Expired"},
	"me.card":                      {"Nøglekort", "Code card"},
	"me.card.serial":               {"Kortnummer", "Card number"},
	"me.card.left":                 {"Ubrugte nøgler", "Unused keys"},
	"me.card.suspended":            {"Dit nøglekort er spærret efter for mange forkerte koder.", "Your code card is suspended after too many wrong codes."},
	"me.card.low":                  {"Dit nøglekort er ved at være brugt op.", "Your code card is running out of keys."},
	"me.card.order":                {"Bestil nyt nøglekort", "Order a new code card"},
	"me.card.ordered":              {"Du bestilte et nyt nøglekort %s. Support udsteder det og sender det til dig; det gamle virker, indtil det nye er udstedt.", "You ordered a new code card on %s. Support issues it and sends it to you; the old one works until the new one is issued."},
	"me.card.support":              {"Til support: bestillingen står i »oces citizen show« og opfyldes med »oces citizen card new«.", "For support: the order shows in 'oces citizen show' and is fulfilled with 'oces citizen card new'."},
	"me.profile.qualified-signing": {"Kvalificeret certifikat til én underskrift", "Qualified certificate for one signature"},
	"me.profile.poces":             {"Personligt certifikat (POCES)", "Personal certificate (POCES)"},
	"me.app":                       {"Kodeapp", "Code app"},
	"me.app.on":                    {"Kodeappen er aktiveret.", "The code app is activated."},
	"me.app.off":                   {"Kodeappen er ikke aktiveret.", "The code app is not activated."},
	"me.app.activate":              {"Aktivér kodeappen", "Activate the code app"},
	"me.password":                  {"Adgangskode", "Password"},
	"me.password.change":           {"Skift adgangskode", "Change password"},
	"password.changed":             {"Din adgangskode er skiftet.", "Your password is changed."},

	"app.intro":    {"Indtast koderne til to nøgler fra dit nøglekort. Derefter viser vi en QR-kode, som du scanner med en kodeapp (TOTP).", "Enter the codes of two keys from your code card. Then we show a QR code to scan with a code app (TOTP)."},
	"app.code1":    {"Kode til nøgle %s", "Code for key %s"},
	"app.activate": {"Aktivér", "Activate"},
	"app.scan":     {"Scan QR-koden med din kodeapp. Den vises kun denne ene gang.", "Scan the QR code with your code app. It is shown this once only."},
	"app.qr_alt":   {"QR-kode til kodeappen", "QR code for the code app"},
	"app.uri":      {"Eller indtast denne adresse i appen:", "Or enter this address in the app:"},
	"app.gone":     {"QR-koden er allerede vist. Den vises kun én gang.", "The QR code was shown already. It is shown only once."},

	"err.auth":              {"Forkert bruger-ID, adgangskode eller kode. Efter flere forkerte forsøg spærres adgangen i et stykke tid.", "Wrong user ID, password or code. After several wrong attempts access is blocked for a while."},
	"err.card_suspended":    {"Dit nøglekort er spærret. Kontakt support for at få et nyt.", "Your code card is suspended. Contact support to get a new one."},
	"err.account_suspended": {"Din adgang er spærret. Kontakt support.", "Your access is suspended. Contact support."},
	"err.session":           {"Din session er udløbet. Log ind igen.", "Your session has expired. Please log in again."},
	"err.sad":               {"Godkendelsen passede ikke til dokumentet. Prøv igen.", "The confirmation did not match the document. Please try again."},
	"err.password_change":   {"Du skal først vælge en ny adgangskode.", "You must choose a new password first."},
	"err.password_rules":    {"Adgangskoden skal have 8 til 64 tegn og må ikke være dit bruger-ID.", "The password must have 8 to 64 characters and must not be your user ID."},
	"err.password_repeat":   {"De to nye adgangskoder er ikke ens.", "The two new passwords differ."},
	"err.too_many":          {"For mange forsøg på at logge ind fra din adresse. Vent et minut, og prøv igen.", "Too many login attempts from your address. Wait a minute and try again."},
	"err.required":          {"Udfyld feltet.", "Please fill in this field."},
	"err.request_not_found": {"Underskriftsanmodningen findes ikke eller er udløbet.", "The signing request does not exist or has expired."},
	"err.request_gone":      {"Underskriftsanmodningen er allerede afsluttet.", "The signing request is closed already."},
	"err.too_large":         {"Filen er for stor.", "The file is too large."},
	"err.too_many_pages":    {"Dokumentet har for mange sider.", "The document has too many pages."},
	"err.not_pdf":           {"Filen er ikke en PDF, vi kan læse.", "The file is not a PDF we can read."},
	"err.render":            {"Siderne kunne ikke vises i tide. Prøv et mindre dokument.", "The pages could not be drawn in time. Try a smaller document."},
	"err.empty":             {"Vælg en fil eller skriv en tekst.", "Choose a file or write a text."},
	"err.not_found":         {"Siden eller dokumentet findes ikke.", "The page or document does not exist."},
	"err.cross_origin":      {"Formularen kom fra et andet websted og blev afvist.", "The form came from another site and was refused."},
	"err.internal":          {"Der skete en fejl hos os. Prøv igen om lidt.", "Something went wrong on our side. Please try again shortly."},
}
