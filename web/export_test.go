package web

// Catalogue is the message catalogue, for the test that checks it.
func Catalogue() map[string][2]string { return catalogue }
