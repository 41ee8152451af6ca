run lambda { |env| [200, {"Content-Type" => "application/json"}, ["{\"pid\": #{Process.pid}, \"ps\": \"#{ENV['PS']}\"}\n"]] }
