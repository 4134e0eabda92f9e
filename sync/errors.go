package sync

import "errors"

// Errors returned or recorded by the Client. Use errors.Is: most are wrapped with the cause.
var (
	// ErrConfig marks an invalid Config: bad broker URL, missing or unreadable files.
	ErrConfig = errors.New("sync: invalid config")
	// ErrTLS marks a TLS failure while connecting: the broker's certificate is not trusted by the
	// configured CA, or the broker rejected (or required) the client certificate.
	ErrTLS = errors.New("sync: TLS handshake failed")
	// ErrNotAuthorized marks a CONNECT the broker refused: bad username or password, client not
	// authorised, client id rejected.
	ErrNotAuthorized = errors.New("sync: broker refused the connection")
	// ErrPublishDenied means the broker acknowledged a prediction but did not deliver it back to
	// the device's own subscription: with MQTT 3.1.1, mosquitto answers a publish its ACL denies
	// with a normal PUBACK and drops it.
	ErrPublishDenied = errors.New("sync: broker acknowledged a publish but did not deliver it (ACL denies the topic?)")
	// ErrSubscribeDenied means the broker answered a SUBSCRIBE with the failure code 0x80.
	ErrSubscribeDenied = errors.New("sync: broker refused the subscription")
	// ErrNotConnected is returned by PublishEvent while there is no connection.
	ErrNotConnected = errors.New("sync: not connected")
)
