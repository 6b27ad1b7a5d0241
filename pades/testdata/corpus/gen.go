package corpus

//go:generate go run ./gen
