package transmission

import "github.com/lodestone-bt/lodestone/api"

// Transmission's encryption setting, mapped onto Lodestone's policy:
// "required" is require, "preferred" prefer, and "tolerated" (MSE
// accepted, plaintext preferred) is disable, the nearest: Lodestone has
// no policy that prefers plaintext but takes MSE, and Transmission none
// that refuses MSE.

// transmissionEncryption names policy in Transmission's words; "" for an
// unknown one.
func transmissionEncryption(policy string) string {
	switch policy {
	case "require":
		return "required"
	case "prefer":
		return "preferred"
	case "disable":
		return "tolerated"
	}
	return ""
}

// encryptionParam reads session-set's encryption into p, when it is
// another policy than cur's.
func encryptionParam(a args, cur string, p *api.SessionSetParams) error {
	v, ok, err := a.str("encryption")
	if err != nil || !ok {
		return err
	}
	var policy string
	switch v {
	case "required":
		policy = "require"
	case "preferred":
		policy = "prefer"
	case "tolerated":
		policy = "disable"
	default:
		return invalid("encryption", `"required", "preferred" or "tolerated"`)
	}
	if policy != cur {
		p.Encryption = &policy
	}
	return nil
}
