//! Messages to people. SMS bodies carry the code and nothing about anyone's health or dossier.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::config::{self, ConfigError};
use crate::types::PhoneNumber;

#[derive(Debug, thiserror::Error)]
#[error("SMS could not be sent: {0}")]
pub struct SendError(String);

#[derive(Clone)]
pub struct SmsSender {
    client: aws_sdk_sns::Client,
    sender_id: String,
    organisation: String,
}

impl SmsSender {
    pub fn new(client: aws_sdk_sns::Client, sender_id: String, organisation: String) -> Self {
        Self {
            client,
            sender_id,
            organisation,
        }
    }

    pub fn from_env(sdk: &crate::aws::SdkConfig) -> Result<Self, ConfigError> {
        let organisation = config::required("ORGANISATION_NAME")?;
        Ok(Self::new(
            aws_sdk_sns::Client::new(sdk),
            config::or_default("SMS_SENDER_ID", &organisation),
            organisation,
        ))
    }

    pub async fn send_login_code(
        &self,
        to: &PhoneNumber,
        code: &str,
        valid_minutes: i64,
    ) -> Result<(), SendError> {
        let text = format!(
            "{code} is uw inlogcode voor het {} cliëntportaal. Geldig {valid_minutes} minuten. Deel deze code met niemand.",
            self.organisation
        );
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|err| SendError(err.to_string()))
        };
        self.client
            .publish()
            .phone_number(to.as_str())
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?)
            .message_attributes("AWS.SNS.SMS.SenderID", attribute(&self.sender_id)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| SendError(aws_sdk_sns::error::DisplayErrorContext(err).to_string()))
    }
}
